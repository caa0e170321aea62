"""File names inside the analysis steps' outputs (see the package docstring)."""

from __future__ import annotations
