"""Photos pane: drop photos and folders, detection in a worker, pick a face."""

from .pane import PhotosPane

__all__ = ["PhotosPane"]
