"""Probe pane: shift/rotate/scale the crop and watch predictions move."""

from .pane import ProbePane

__all__ = ["ProbePane"]
