"""File names inside the cp steps' outputs (see the package docstring)."""

from __future__ import annotations
