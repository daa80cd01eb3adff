"""The Probe pane's analysis: for each model the four one-parameter sweeps and a dx × dy heat
map, then the invariance metrics, as a chain of small jobs on the compute lane (each at most
~:data:`.parts.CHUNK_PIXELS` of crops) so live predictions slip in between them. The reference
model's sweeps and heat map are drawn as soon as they are in; the other models' heat maps
follow (for the CSV export). A mixin of :class:`.pane.ProbePane`.
"""

from __future__ import annotations

import numpy as np

from ....backend import probe as probe_tasks
from ... import theme
from .parts import CHUNK_PIXELS, HEAT_N, PARAMS

PLOTTED = ("sweep", "heat")  # steps the figure waits for; "heat+": another model's heat map


class AnalysisPart:
    """Plans, runs and collects the analysis steps (the pane's state: ``sweeps``, ``heat``,
    ``heats``, ``heat_flips``, ``metrics``, ``errors``)."""

    def _request_analysis(self) -> None:
        self.sweeps, self.heat, self.heat_flips, self.metrics, self.errors = {}, None, None, {}, {}
        self.heats: dict[str, probe_tasks.ProbeHeat] = {}
        self._heat_parts: dict[str, tuple] = {}
        if not self._ready():
            self.analysis_slot.cancel()
            self.live_slot.cancel()
            self._steps = []
            self._show_empty()
            return
        self._steps = self._plan(self.model_ids)
        self._n_steps = len(self._steps)
        self._set_plot_note("Computing the sweeps…")
        self.plot.preload()  # import matplotlib meanwhile
        self.metrics_label.setText(f"<span style='color:{theme.MUTED}'>Computing the invariance "
                                   "metrics…</span>")
        self._next_step()

    def _plan(self, ids) -> list[tuple]:
        """Analysis steps, each at most ~CHUNK_PIXELS of crops, so a live request waits for
        one short step at most: (kind, model id, what). The reference model's heat map is
        plotted; every other model's is computed after it, for the export."""
        steps = []
        for m in ids:
            w, h = self._size(m)
            small = 126 * w * h <= CHUNK_PIXELS
            steps += [("sweep", m, PARAMS)] if small else [("sweep", m, (p,)) for p in PARAMS]
        for k, m in enumerate(ids):
            w, h = self._size(m)
            per = max(1, min(HEAT_N, CHUNK_PIXELS // (HEAT_N * w * h)))
            kind = "heat" if k == 0 else "heat+"
            steps += [(kind, m, (a, min(a + per, HEAT_N))) for a in range(0, HEAT_N, per)]
        return steps + [("metrics", m, None) for m in ids]

    def _next_step(self) -> None:
        if not self._steps:
            self._current_step = ("", "", None)
            self._show_metrics()
            self.analysisDone.emit()
            return
        self._current_step = kind, mid, what = self._steps.pop(0)
        b, r = self.ctx.backend, self.ref
        unit, radius = self.units().get(mid, 1.0), self.radius
        args = (b, r.photo, r.face, mid)
        kw = dict(template=self.template, border=self.border)
        if kind == "sweep":
            values = {k: v for k, v in self.sweep_values().items() if k in what}
            self.analysis_slot.submit(probe_tasks.probe_sweep, *args, unit, values, **kw)
        elif kind in ("heat", "heat+"):
            self.analysis_slot.submit(probe_tasks.probe_heat, *args, unit, radius, HEAT_N, what,
                                      **kw)
        else:
            self.analysis_slot.submit(probe_tasks.face_metrics, *args,
                                      max(1, round(radius / 2 * unit)), **kw)
        if kind in PLOTTED:
            left = sum(1 for s in self._steps if s[0] in PLOTTED)
            total = sum(1 for s in self._plan(self.model_ids) if s[0] in PLOTTED)
            self._set_plot_note(f"Computing the sweeps and the heat map… ({total - left - 1}"
                                f"/{total})")

    def _on_analysis(self, result) -> None:
        if isinstance(result, probe_tasks.ProbeSweep):
            old = self.sweeps.get(result.model_id)
            self.sweeps[result.model_id] = result if old is None else probe_tasks.ProbeSweep(
                result.model_id, result.labels, {**old.sweeps, **result.sweeps})
        elif isinstance(result, probe_tasks.ProbeHeat):
            self._add_heat_rows(result)
        else:
            self.metrics[result.model_id] = result
            self._show_metrics()
        self._step_done()

    def _add_heat_rows(self, part: probe_tasks.ProbeHeat) -> None:
        n = len(part.offsets)
        mid = part.model_id
        if mid not in self._heat_parts:
            self._heat_parts[mid] = (np.full((n, n, part.grid.shape[-1]), np.nan, np.float32),
                                     np.zeros(n, bool))
        grid, done = self._heat_parts[mid]
        a, b = part.rows
        grid[a:b], done[a:b] = part.grid, True
        if done.all():
            top = grid.argmax(-1)
            heat = probe_tasks.ProbeHeat(mid, part.labels, part.offsets, grid, (0, n))
            self.heats[mid] = heat
            if mid == self.ref_model:
                self.heat = heat
                self.heat_flips = top != top[n // 2, n // 2]  # as backend.probe.flips

    def _step_done(self) -> None:
        if self._current_step[0] in PLOTTED and not any(s[0] in PLOTTED for s in self._steps):
            self._draw_figure()  # the last sweep / reference heat-map piece is in
        self._next_step()

    def _on_analysis_error(self, message: str) -> None:
        mid = self._current_step[1]
        self.errors[mid] = message
        self.message.emit(f"Probe: {mid}: {message}")
        self._step_done()

    @property
    def busy(self) -> bool:
        return self.analysis_slot.busy or bool(self._steps)


__all__ = ["AnalysisPart", "PLOTTED"]
