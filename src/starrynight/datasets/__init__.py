"""Synthetic optical pooled screens with ground truth (SPEC 8): image datasets and large empty
file trees in the default input layout.

Names are imported on first use: the CLI locates `starrynight.datasets.cli` at start-up, and that
must not pull in numpy or polars.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DatasetInfo": "starrynight.datasets.models",
    "read_dataset_info": "starrynight.datasets.models",
    "generate_dataset": "starrynight.datasets.generate",
    "DatasetExistsError": "starrynight.datasets.generate",
    "Preset": "starrynight.datasets.presets",
    "PRESETS": "starrynight.datasets.presets",
    "generate_tree": "starrynight.datasets.tree",
    "tree_paths": "starrynight.datasets.tree",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'starrynight.datasets' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
