"""Crops pane: the raw box crop and the aligned crop each model sees."""

from .pane import CropsPane

__all__ = ["CropsPane"]
