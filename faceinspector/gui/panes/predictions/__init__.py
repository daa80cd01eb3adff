"""Predictions pane: every model on the raw and the aligned crop."""

from .pane import PredictionsPane

__all__ = ["PredictionsPane"]
