"""Matplotlib figures shared by the CLI (saved as PNG) and the GUI (embedded canvases).

Only builds :class:`matplotlib.figure.Figure` objects (no pyplot state, no GUI backend), so the
same code draws into a file or into a Qt canvas.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

SWEEPS = {
    "dx": ("horizontal shift (crop px)", np.arange(-16, 17, 1.0)),
    "dy": ("vertical shift (crop px)", np.arange(-16, 17, 1.0)),
    "angle": ("rotation (degrees)", np.arange(-45, 46, 3.0)),
    "scale": ("scale", np.round(np.arange(0.7, 1.401, 0.025), 3)),
}


def sweep_axes_values(name: str) -> np.ndarray:
    return SWEEPS[name][1]


def draw_sweep(ax, name: str, values: np.ndarray, probs_by_model: dict, labels_by_model: dict,
               current: float | None = None) -> None:
    """One panel: each class probability of each model against one transform parameter."""
    styles = ["-", "--", ":", "-."]
    for k, (mid, probs) in enumerate(probs_by_model.items()):
        labels = labels_by_model[mid]
        for c in range(probs.shape[1]):
            if probs.shape[1] > 8 and c not in np.argsort(-probs.max(0))[:4]:
                continue  # many classes (age bins): only the 4 that ever score highest
            ax.plot(values, probs[:, c], styles[k % len(styles)], lw=1.5,
                    label=f"{mid}: {labels[c] if c < len(labels) else c}")
    if current is not None:
        ax.axvline(current, color="0.3", lw=1, ls=":")
    ax.set_xlabel(SWEEPS[name][0])
    ax.set_ylabel("probability")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)


def draw_heatmap(ax, offsets: np.ndarray, grid_probs: np.ndarray, labels, title: str = "") -> None:
    """Probability of the centre's top class over a dx × dy grid; flipped cells marked ×."""
    c = grid_probs.shape[0] // 2
    top = int(grid_probs[c, c].argmax())
    lo, hi = offsets[0] - 0.5, offsets[-1] + 0.5
    im = ax.imshow(grid_probs[..., top], origin="upper", vmin=0, vmax=1, cmap="viridis",
                   extent=(lo, hi, hi, lo))
    flipped = grid_probs.argmax(-1) != top
    ys, xs = np.nonzero(flipped)
    ax.scatter(offsets[xs], offsets[ys], marker="x", s=12, color="#ff5050", lw=1,
               label="top-1 flips")
    ax.set_xlabel("dx (crop px)")
    ax.set_ylabel("dy (crop px)")
    ax.set_title(title or f"p({labels[top]}) over shifts")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if flipped.any():
        ax.legend(loc="lower right", fontsize=7)


def probe_figure(sweeps: dict, labels_by_model: dict, heat: tuple | None = None,
                 current: dict | None = None, title: str = "") -> Figure:
    """A 2×3 figure: four sweeps (dx, dy, angle, scale) and the dx×dy heat map."""
    fig = Figure(figsize=(13, 7), layout="constrained")
    axes = fig.subplots(2, 3)
    for ax, name in zip([axes[0, 0], axes[0, 1], axes[1, 0], axes[1, 1]], SWEEPS):
        if name in sweeps:
            values, probs_by_model = sweeps[name]
            draw_sweep(ax, name, values, probs_by_model, labels_by_model,
                       (current or {}).get(name))
    handles, labs = axes[0, 0].get_legend_handles_labels()
    axes[0, 2].axis("off")
    if handles:
        axes[0, 2].legend(handles, labs, loc="center", fontsize=8, frameon=False)
    if heat is not None:
        offsets, grid, labels = heat
        draw_heatmap(axes[1, 2], offsets, grid, labels)
    else:
        axes[1, 2].axis("off")
    if title:
        fig.suptitle(title)
    return fig
