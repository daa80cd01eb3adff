"""The Probe pane's parts: constants, the slider + spin box control, the crop view, the figure
(built and rendered on the render thread), and the HTML / CSV the pane shows and exports."""

from __future__ import annotations

import csv

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QGridLayout, QLabel, QSlider, QWidget

from ... import theme
from ...widgets import CropCanvas

OWN = "__own__"  # template combo: each model's own template
BORDERS = ("reflect", "replicate", "zeros")
DEFAULT_MODELS = ("dlib-gender",)
HEAT_N = 21  # the heat map is HEAT_N x HEAT_N shifts over the dx/dy slider range
# the backend's probe.SWEEP_VALUES for angle and scale (not imported: it imports torch)
ANGLES = np.arange(-45, 46, 3.0)
SCALES = np.round(np.arange(0.7, 1.401, 0.025), 3)
PARAMS = ("dx", "dy", "angle", "scale")
CHUNK_PIXELS = 128 * 112 * 112  # crop pixels per analysis step (~128 crops of 112 x 112)
MAX_PLOTTED = 8  # figures.draw_sweep: more classes than this -> only the 4 highest are drawn
MARKER = "#222222"  # the sliders' current values on the plots
XLABELS = {"dx": "dx (reference crop px)", "dy": "dy (reference crop px)",
           "angle": "rotation (°)", "scale": "scale"}


def plotted_classes(probs: np.ndarray) -> list[int]:
    """The class indices :func:`faceinspector.figures.draw_sweep` draws for ``probs`` (K, C)."""
    c = probs.shape[1]
    if c <= MAX_PLOTTED:
        return list(range(c))
    keep = set(np.argsort(-probs.max(0))[:4].tolist())
    return [i for i in range(c) if i in keep]


def is_classifier(card) -> bool:
    return card.spec is not None and 2 <= len(card.labels) <= 16


class ParamControl(QObject):
    """A slider and a numeric box kept in sync; the box holds the (float) value."""

    valueChanged = Signal(float)

    def __init__(self, text: str, lo: float, hi: float, step: float, factor: float,
                 decimals: int, suffix: str, default: float, parent: QObject) -> None:
        super().__init__(parent)
        self.factor, self.default = factor, default
        self.label = QLabel(text)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimumWidth(70)
        self.spin = QDoubleSpinBox()
        self.spin.setDecimals(decimals)
        self.spin.setSingleStep(step)
        self.spin.setSuffix(suffix)
        self.spin.setKeyboardTracking(False)
        self.spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.set_range(lo, hi)
        self.spin.setValue(default)
        self.slider.setValue(round(default * factor))
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)

    def set_range(self, lo: float, hi: float) -> None:
        self.slider.setRange(round(lo * self.factor), round(hi * self.factor))
        self.spin.setRange(lo, hi)

    def value(self) -> float:
        return float(self.spin.value())

    def setValue(self, value: float) -> None:
        self.spin.setValue(value)

    def _from_slider(self, position: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(position / self.factor)
        self.spin.blockSignals(False)
        self.valueChanged.emit(self.value())

    def _from_spin(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * self.factor))
        self.slider.blockSignals(False)
        self.valueChanged.emit(self.value())


class CropView(CropCanvas):
    """The Probe's crops: a :class:`~..widgets.CropCanvas` of fixed size."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(0, 0)
        self.setFixedSize(132, 132)  # a 32 px chip x 4, a 64 px chip x 2




def make_controls(parent: QObject) -> dict[str, ParamControl]:
    """The four transform controls (ranges in the reference crop's pixels, degrees, ×)."""
    return {
        "dx": ParamControl("dx", -16, 16, 1.0, 1, 1, " px", 0.0, parent),
        "dy": ParamControl("dy", -16, 16, 1.0, 1, 1, " px", 0.0, parent),
        "angle": ParamControl("angle", -45, 45, 1.0, 1, 1, "°", 0.0, parent),
        "scale": ParamControl("scale", 0.7, 1.4, 0.01, 100, 2, "×", 1.0, parent),
    }


def slider_grid(controls: dict, reset_button) -> QGridLayout:
    """The controls in a grid, a muted units note (``grid.units_label``) and the reset button."""
    grid = QGridLayout()
    grid.setVerticalSpacing(2)
    for row, ctl in enumerate(controls.values()):
        grid.addWidget(ctl.label, row, 0)
        grid.addWidget(ctl.slider, row, 1)
        grid.addWidget(ctl.spin, row, 2)
    grid.setColumnStretch(1, 1)
    grid.units_label = QLabel()
    grid.units_label.setStyleSheet(f"color: {theme.MUTED};")
    grid.units_label.setWordWrap(True)
    grid.addWidget(grid.units_label, 4, 0, 1, 2)
    grid.addWidget(reset_button, 4, 2, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight)
    grid.setRowStretch(5, 1)
    return grid


class CropsAndPredictions(QWidget):
    """Untransformed and transformed crop side by side, a caption, and the live predictions."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.original_view, self.moved_view = CropView(), CropView()
        self.caption = QLabel()
        self.caption.setStyleSheet(f"color: {theme.MUTED};")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.live_label = QLabel()
        self.live_label.setTextFormat(Qt.TextFormat.RichText)
        self.live_label.setWordWrap(True)
        self.live_label.setMinimumWidth(120)
        self.live_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        crops = QGridLayout(self)
        crops.setContentsMargins(0, 0, 0, 0)
        crops.setVerticalSpacing(2)
        for col, (title, view) in enumerate((("Untransformed", self.original_view),
                                             ("Transformed", self.moved_view),
                                             ("Predictions", self.live_label))):
            label = QLabel(title)
            label.setStyleSheet("font-weight: bold;")
            crops.addWidget(label, 0, col)
            crops.addWidget(view, 1, col)
        crops.addWidget(self.caption, 2, 0, 1, 2)
        crops.setColumnStretch(2, 1)


def live_html(view) -> str:
    """A row per model and class: probability now, and untransformed in brackets."""
    rows, muted = [], f"style='color:{theme.MUTED}'"
    for mid in view.model_ids:
        if mid in view.errors:
            rows.append(f"<tr><td><b>{mid}</b></td><td colspan='2' style='color:"
                        f"{theme.ERROR}'>{view.errors[mid]}</td></tr>")
            continue
        p, p0, labels = view.probs[mid], view.base.get(mid), view.labels[mid]
        flip = p0 is not None and int(p.argmax()) != int(p0.argmax())
        for i, c in enumerate(np.argsort(-p)[:3] if len(p) > 3 else range(len(p))):
            name = f"<b>{mid}</b>" if i == 0 else ""
            if i == 1 and flip:
                name = f"<span style='color:{theme.DIFFERS}'><b>top-1 flipped</b></span>"
            was = "" if p0 is None else f" <span {muted}>({p0[c]:.3f})</span>"
            rows.append(f"<tr><td>{name}&nbsp;&nbsp;</td><td>{labels[c]}&nbsp;</td>"
                        f"<td align='right'><b>{p[c]:.3f}</b>{was}</td></tr>")
    dx, dy, angle, scale = view.transform
    return (f"<table cellspacing='0' cellpadding='1'>{''.join(rows)}</table>"
            f"<span {muted}>at dx {dx:+g}, dy {dy:+g}, {angle:+g}°, ×{scale:.2f}; "
            "untransformed in brackets</span>")


def metrics_html(metrics: dict, model_ids, radius: int) -> str:
    """The invariance metrics table (one row per model)."""
    head = "".join(f"<th nowrap align='{a}'>{t}</th>" for t, a in (
        ("model", "left"), ("consistency", "center"), ("P(flip) 1 px", "center"),
        ("mean |Δp| 1 px", "center"), ("eKLD", "center"), ("eKLD by class", "left")))
    head = f"<tr>{head}</tr>"
    rows = []
    for mid in model_ids:
        m = metrics.get(mid)
        if m is None:
            continue
        per = ", ".join(f"{k}: {v:.4f}" for k, (v, _n) in m.ekld_per_class.items())
        rows.append(f"<tr><td><b>{mid}</b></td><td align='center'>{m.consistency:.3f}</td>"
                    f"<td align='center'>{m.p_top1_change:.3f}</td>"
                    f"<td align='center'>{m.mean_abs_change:.4f}</td>"
                    f"<td align='center'>{m.ekld:.4f}</td><td>{per}</td></tr>")
    return (
        f"<b>Invariance on this face</b> <span style='color:{theme.MUTED}'>(random shifts "
        f"up to ±{radius // 2} px; eKLD also over ±15° and ×0.9–1.1)</span>"
        f"<table cellspacing='0' cellpadding='2'>{head}{''.join(rows)}</table>")


def num(v: float, digits: int = 6) -> str:
    """A number as a CSV cell: ``digits`` significant digits, no float noise
    (``14.400000000000002`` -> ``14.4``)."""
    return f"{float(v):.{digits}g}"


#: what each CSV row says about where it comes from (the pane's state when exported)
CONTEXT = ("photo", "face", "template", "border", "slider_dx", "slider_dy", "slider_angle",
           "slider_scale")


def write_csv(path, model_ids, sweeps: dict, heats: dict, metrics: dict,
              context: dict | None = None) -> int:
    """The probe's numbers: one row per sweep point, model and plotted class; one per heat-map
    cell of every model (its top class on the untransformed crop, and whether top-1 flipped);
    one per invariance metric. Every row carries ``context`` (photo, face, template, border,
    slider state). Returns the number of data rows."""
    from ....backend.files import atomic_open

    ctx = [("" if (v := (context or {}).get(k)) is None else
            num(v) if isinstance(v, float) else str(v)) for k in CONTEXT]
    rows = 0
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["section", "parameter", "value", "dx", "dy", "model", "class",
                    "probability", "top1_flipped", *CONTEXT])
        for mid in model_ids:
            s = sweeps.get(mid)
            if s is None:
                continue
            for name in PARAMS:
                values, probs = s.sweeps[name]
                for c in plotted_classes(probs):
                    for v, p in zip(values, probs[:, c]):
                        w.writerow(["sweep", name, num(v, 4), "", "", mid, s.labels[c],
                                    num(p), "", *ctx])
                        rows += 1
        for mid in model_ids:
            h = heats.get(mid)
            if h is None:
                continue
            c = len(h.offsets) // 2
            top = int(h.grid[c, c].argmax())
            flips = h.grid.argmax(-1) != top
            for i, dy in enumerate(h.offsets):
                for j, dx in enumerate(h.offsets):
                    w.writerow(["heatmap", f"p({h.labels[top]})", "", num(dx, 4), num(dy, 4),
                                mid, h.labels[top], num(h.grid[i, j, top]), int(flips[i, j]),
                                *ctx])
                    rows += 1
        for mid in model_ids:
            m = metrics.get(mid)
            if m is None:
                continue
            for name, v in (("consistency", m.consistency), ("p_top1_change_1px",
                                                             m.p_top1_change),
                            ("mean_abs_change_1px", m.mean_abs_change), ("ekld", m.ekld)):
                w.writerow(["metrics", name, num(v), "", "", mid, "", "", "", *ctx])
                rows += 1
            for label, (v, _n) in m.ekld_per_class.items():
                w.writerow(["metrics", "ekld_by_class", num(v), "", "", mid, label, "", "",
                            *ctx])
                rows += 1
    return rows


def caption(context: dict, model_ids) -> str:
    """One line saying what a probe export shows."""
    c = context
    return (f"{c.get('photo', '?')}, face {c.get('face', '?')} · template {c.get('template')} · "
            f"border {c.get('border')} · models {', '.join(model_ids)} · sliders dx "
            f"{c.get('slider_dx', 0):+g}, dy {c.get('slider_dy', 0):+g}, "
            f"{c.get('slider_angle', 0):+g}°, ×{c.get('slider_scale', 1):.2f}")


def build_figure(fig, w: int, h: int, tall: bool, ids: list, sweeps: dict, heat, errors: dict,
                 current: dict) -> tuple[list, dict]:
    """The Probe figure (runs on the render thread, see :meth:`PlotCanvas.rebuild`): the four
    sweeps, the heat map and a legend panel. Returns the marker artists (overlay) and them by
    name."""
    from matplotlib.lines import Line2D

    from .... import figures
    from ...plot_canvas import pixel_grid

    markers: dict = {}
    labels = {m: sweeps[m].labels for m in ids}
    gs = (pixel_grid(fig, w, h, 3, 2, hgap=58, bottom=44) if tall  # room for the colour
          else pixel_grid(fig, w, h, 2, 3, hgap=58, bottom=44, right=34))  # bar's tick labels
    places = {"dx": gs[0, 0], "dy": gs[0, 1], "angle": gs[1, 0], "scale": gs[1, 1],
              "heat": gs[2, 0] if tall else gs[0, 2], "legend": gs[2, 1] if tall else gs[1, 2]}
    for name in PARAMS:
        ax = fig.add_subplot(places[name])
        if ids:
            values = sweeps[ids[0]].sweeps[name][0]
            figures.draw_sweep(ax, name, values, {m: sweeps[m].sweeps[name][1] for m in ids},
                             labels)
        ax.set_xlabel(XLABELS[name])
        ax.set_ylabel("p(class)")
        markers[name] = ax.axvline(current[name], color=MARKER, lw=1.3, alpha=0.8)
    if heat is not None:
        ax = fig.add_subplot(places["heat"])
        top = heat.labels[int(heat.grid[HEAT_N // 2, HEAT_N // 2].argmax())]
        figures.draw_heatmap(ax, heat.offsets, heat.grid, heat.labels,
                           title=f"{heat.model_id}: p({top})")
        if ax.get_legend() is not None:
            ax.get_legend().remove()  # in the legend panel instead: the map is small
        ax.set_xlabel(XLABELS["dx"])
        ax.set_ylabel(XLABELS["dy"])
        markers["heat"] = ax.plot([current["dx"]], [current["dy"]], marker="P", ms=10, mew=1,
                                  mfc="white", mec="black", ls="none")[0]
    leg = fig.add_subplot(places["legend"])
    leg.axis("off")
    handles, names = fig.axes[0].get_legend_handles_labels()
    handles.append(Line2D([], [], color=MARKER, lw=1.3, alpha=0.8))
    names.append("slider value")
    if heat is not None:
        handles += [Line2D([], [], marker="x", color="#ff5050", ls="none"),
                    Line2D([], [], marker="P", ms=8, mfc="white", mec="black", ls="none")]
        names += ["heat map: top-1 flips", "heat map: slider dx, dy"]
    leg.legend(handles, names, loc="center", frameon=False, title="model: class",
               title_fontsize=7)
    failed = "; ".join(f"{m}: {e}" for m, e in errors.items())
    if failed:
        fig.text(0.5, 0.01, failed[:160], ha="center", fontsize=7, color="tab:red")
    return list(markers.values()), markers


__all__ = ["ANGLES", "BORDERS", "CHUNK_PIXELS", "DEFAULT_MODELS", "HEAT_N", "MARKER", "OWN",
           "PARAMS", "SCALES", "XLABELS", "CropView", "CropsAndPredictions", "ParamControl",
           "CONTEXT", "build_figure", "caption", "is_classifier", "live_html", "make_controls",
           "metrics_html", "num", "plotted_classes", "slider_grid", "write_csv"]
