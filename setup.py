"""Build glue pyproject.toml cannot express on its own: the repository's top-level ``resources/``
folder (model manifest, demo classifiers, the shipped VAE) becomes the package
``faceinspector.resources``, so the app reads it through ``importlib.resources`` whether it is
installed from a wheel, with pipx, or in editable mode (``make``). Everything else about the
build is in pyproject.toml; the files shipped with the package are listed there under
``[tool.setuptools.package-data]``.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["faceinspector", "faceinspector.*"])
    + ["faceinspector.resources", "faceinspector.resources.vae"],
    package_dir={"faceinspector.resources": "resources"},
)
