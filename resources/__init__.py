"""FaceInspector's shipped files, installed as the package ``faceinspector.resources``.

This folder is mapped into the package at build time (``setup.py``); read it with
``faceinspector._paths.resource()`` (``importlib.resources``), never by a path relative to the
source tree.
"""
