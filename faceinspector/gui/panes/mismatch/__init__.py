"""Mismatch pane: what differs between a model's training data and the photos it fails on."""

from .pane import MismatchPane

__all__ = ["MismatchPane"]
