"""One sub-package per pane (``pane.py`` holds the pane, its other modules the pane's own
widgets). Panes take the :class:`~faceinspector.gui.context.AppContext` in ``__init__``, never
import each other, and talk through signals the main window wires."""
