"""Triplets pane: anchor/positive/negative distances and the distance matrix."""

from .pane import TripletsPane

__all__ = ["TripletsPane"]
