"""Colours and sizes shared by the panes (one place, so the legend always matches the drawing)."""

BOX = "#43a047"  # a face box
SELECTED = "#ffb300"  # the selected face (amber)
LANDMARK = "#00e5ff"  # the face's 5 detected landmarks (cyan dots)
TARGET = "#ff4081"  # where the template wants them (magenta crosses)
DIFFERS = "#ffb300"  # a prediction whose top class differs between raw and aligned
BAR_RAW = "#7e57c2"
BAR_ALIGNED = "#26a69a"
ERROR = "#e53935"
MUTED = "#8a8a8a"
HIGHLIGHT = "#1e88e5"  # the model whose crops the Crops pane shows ("As seen by"); focus ring

THUMB_SIDE = 100  # thumbnails are made this size (long side) in the worker
CROP_BOX = 256  # a crop is enlarged by an integer factor to at most this many pixels
