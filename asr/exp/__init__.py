"""The experiment dir: its file layout, safe checkpoint files, and loading it whole."""
