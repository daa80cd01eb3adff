"""Morph pane: a VAE's morphs and traversals, and training a VAE / DB-VAE."""

from .pane import MorphPane

__all__ = ["MorphPane"]
