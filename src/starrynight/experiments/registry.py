"""Experiment classes by name, so configs and the CLI can say `pcp-generic`."""

from __future__ import annotations

import json
import os

from starrynight.config import AnyPath, to_path
from starrynight.experiments.pcp_generic import ExperimentError, PCPGenericExperiment

EXPERIMENTS: dict[str, type[PCPGenericExperiment]] = {}


def register_experiment(cls: type[PCPGenericExperiment]) -> type[PCPGenericExperiment]:
    """Add an experiment class under its `name`; a second class with the same name is an error."""
    existing = EXPERIMENTS.get(cls.name)
    if existing is not None and existing is not cls:
        raise ExperimentError(f"experiment name '{cls.name}' is already registered")
    EXPERIMENTS[cls.name] = cls
    return cls


def get_experiment(name: str) -> type[PCPGenericExperiment]:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ExperimentError(
            f"unknown experiment '{name}'; available: {', '.join(sorted(EXPERIMENTS))}"
        ) from None


def load_experiment(path: str | os.PathLike[str] | AnyPath) -> PCPGenericExperiment:
    """Read an experiment JSON of whichever registered kind it declares."""
    source = to_path(path)
    try:
        kind = json.loads(source.read_text()).get("kind", PCPGenericExperiment.name)
    except (OSError, json.JSONDecodeError, AttributeError) as error:
        raise ExperimentError(f"cannot read experiment {source}: {error}") from error
    return get_experiment(kind).from_json(source)


def experiment_from_text(text: str) -> PCPGenericExperiment:
    """An experiment from its JSON text (as a module passes it to a job on the command line),
    of whichever registered kind it declares; paths in it are absolute."""
    try:
        data = json.loads(text)
        kind = data.get("kind", PCPGenericExperiment.name)
    except (json.JSONDecodeError, AttributeError) as error:
        raise ExperimentError(f"--experiment-json is not an experiment: {error}") from error
    return get_experiment(kind).model_validate(data)


register_experiment(PCPGenericExperiment)
