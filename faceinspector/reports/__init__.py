"""Report writers (HTML, CSV, JSON) for the CLI and the GUI's exports. Above the backend and
the figures, below the CLI and the GUI; no Qt."""
