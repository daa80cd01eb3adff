"""Matplotlib figures (no Qt, no pyplot state) shared by the CLI, the reports and the GUI:
the same code draws into a PNG file or into a Qt canvas.

* :mod:`.probe`: transform sweeps and the shift heat map;
* :mod:`.mismatch`: the mismatch finder's ranking, distributions, eye positions and fixes.
"""

from .probe import SWEEPS, draw_heatmap, draw_sweep, probe_figure, sweep_axes_values

__all__ = ["SWEEPS", "draw_heatmap", "draw_sweep", "probe_figure", "sweep_axes_values"]
