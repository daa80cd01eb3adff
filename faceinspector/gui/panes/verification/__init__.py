"""Verification pane: an embedder on labelled pairs (LFW protocol)."""

from .pane import VerificationPane

__all__ = ["VerificationPane"]
