"""File names inside the sbs steps' outputs (see the package docstring)."""

from __future__ import annotations
