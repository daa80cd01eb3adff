"""FaceInspector's PySide6 desktop app. Entry point: :func:`faceinspector.gui.app.main`.

Nothing in this package imports torch on the GUI thread: the backend facade is created in a
worker (see :mod:`faceinspector.gui.workers`) after the window is shown.
"""
