"""Small pieces every HTML report uses: figures and images as embedded PNGs, tables, atomic
writes. A report is one self-contained file (no folder of images to lose)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.6em 0; }
td, th { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.alarm { color: #b30000; font-weight: bold; } .muted { color: #777; }
.thumbs img { height: 72px; margin: 2px; border: 1px solid #ccc; }
figure { margin: 0.5em 0; } figcaption { color: #555; font-size: 0.9em; }
"""


def esc(text) -> str:
    return html.escape(str(text))


def figure_png(fig) -> str:
    """A matplotlib Figure as an ``<img>`` with an embedded PNG (rendered with Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def image_png(pixels: np.ndarray, title: str = "") -> str:
    """An RGB uint8 array as an ``<img>`` with an embedded PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, np.uint8)).save(buf, "PNG")
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img title="{esc(title)}" src="data:image/png;base64,{data}">'


def table(header, rows, classes=None) -> str:
    """An HTML table; ``classes`` gives a CSS class per row (or None)."""
    out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")


def write_atomic(path, text: str | bytes) -> Path:
    """Write ``text`` to ``path`` atomically (``backend.files.atomic_write``): a reader never
    sees half a file, and a failed write leaves nothing behind."""
    from ..backend.files import atomic_write

    atomic_write(Path(path), text)
    return Path(path)


__all__ = ["STYLE", "esc", "figure_png", "image_png", "page", "table", "write_atomic"]
