"""pipecraft: compose command graphs and run them through Snakemake.

A generic library: it knows nothing about microscopy and never imports starrynight.
Names are imported lazily so that `python -m pipecraft._batchrun` starts fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Command": "graph", "FanOut": "graph", "Unit": "graph", "Seq": "graph",
    "Parallel": "graph", "Resources": "graph", "Output": "graph", "file": "graph",
    "directory": "graph",
    "with_resources": "graph",
    "SnakemakeBackend": "backend", "SnakemakeBackendConfig": "backend", "RunHandle": "backend",
    "FailedJob": "backend", "DryRunResult": "backend", "job_argv": "compile",
    "PipecraftError": "errors", "GraphError": "errors", "RunFailedError": "errors", "RunInterruptedError": "errors",
    "RunLockedError": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f"pipecraft.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pipecraft' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
