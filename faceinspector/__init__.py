"""FaceInspector: see why a face model gets a photo wrong."""

__version__ = "0.1.0"
