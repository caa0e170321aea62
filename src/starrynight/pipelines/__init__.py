"""Pipelines: compositions of modules, findable by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# pipeline name -> "module:function" returning (modules, pipeline)
_PIPELINES = {
    "index": "starrynight.pipelines.index:create_index_pipeline",
    "pcp-generic": "starrynight.pipelines.pcp_generic:create_pcp_generic_pipeline",
}


def list_pipelines() -> list[str]:
    return sorted(_PIPELINES)


def get_pipeline(name: str) -> Callable[..., tuple[list[Any], Any]]:
    """The factory of a pipeline by name: `factory(data_config, experiment) -> (modules, pipeline)`."""
    try:
        target = _PIPELINES[name]
    except KeyError:
        raise KeyError(f"unknown pipeline {name!r}; known: {', '.join(list_pipelines())}") from None
    module_name, attr = target.split(":", 1)
    return getattr(importlib.import_module(module_name), attr)
