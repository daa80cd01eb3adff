"""Evaluate pane: a classifier on a labelled set, per class, per group and per crop."""

from .pane import EvaluatePane

__all__ = ["EvaluatePane"]
