"""One module per pane. Panes take the :class:`~faceinspector.gui.context.AppContext` in
``__init__``, never import each other, and talk through signals the main window wires."""
