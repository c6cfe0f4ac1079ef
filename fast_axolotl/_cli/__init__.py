"""Pieces of the ``fast-axolotl`` command (``fast_axolotl/__main__.py`` wires them)."""
