"""Gallery pane: enroll faces, identify faces in new photos."""

from .pane import GalleryPane

__all__ = ["GalleryPane"]
