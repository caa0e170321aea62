"""The module API: one class per step stage, inspectable before anything runs.

A module holds a `spec` (where it reads, where it writes, and its typed parameters) and
builds a pipecraft graph from the current spec each time `pipeline` is read, so editing a
parameter and reading `pipeline` again gives the updated graph. Constructing a module does
no work: no file is read or written until the graph runs.

A step declares only what differs (its parameters model, its default paths, its command
and its units of work); this base class does the rest.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from starrynight import __version__
from starrynight.config import RemotePath, to_path

if TYPE_CHECKING:
    import pipecraft as pc
    from starrynight.config import DataConfig
    from starrynight.experiments.protocol import Experiment

#: Container image every StarryNight command runs in when a container runtime is chosen;
#: built from the Dockerfile at the repository root (`docker build -t starrynight/starrynight:0.1.0 .`).
DEFAULT_CONTAINER_IMAGE = "docker://starrynight/starrynight:0.1.0"

#: Environment variable that carries the StarryNight version into every job's command.
CODE_VERSION_ENV = "STARRYNIGHT_VERSION"


class NoParameters(BaseModel):
    """Parameters of a module that has none."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")


def _spec_path(value: Any) -> Path | RemotePath:
    """Paths and URLs stay as given (a producer's and a consumer's spelling must agree);
    text becomes one (a URL stays a URL)."""
    return value if isinstance(value, Path | RemotePath) else to_path(value)


SpecPath = Annotated[Any, BeforeValidator(_spec_path), PlainSerializer(str, return_type=str)]


class ModuleSpec(BaseModel):
    """What a module reads and writes, and the knobs it has. Printable and editable."""

    model_config = ConfigDict(validate_assignment=True, arbitrary_types_allowed=True)

    name: str
    description: str
    inputs: dict[str, SpecPath] = Field(default_factory=dict)  # local paths or object-store URLs
    outputs: dict[str, SpecPath] = Field(default_factory=dict)
    parameters: Any

    def describe(self) -> str:
        """A plain-text table of inputs, outputs and parameters (type, default, value, help)."""
        lines = [f"{self.name}: {self.description}", "inputs:"]
        lines += [f"  {key}: {path}" for key, path in self.inputs.items()] or ["  (none)"]
        lines.append("outputs:")
        lines += [f"  {key}: {path}" for key, path in self.outputs.items()] or ["  (none)"]
        lines.append("parameters:")
        fields = type(self.parameters).model_fields
        if not fields:
            lines.append("  (none)")
        for key, field in fields.items():
            type_name = getattr(field.annotation, "__name__", str(field.annotation))
            lines.append(
                f"  {key} ({type_name}) = {getattr(self.parameters, key)!r}"
                f"  [default {field.default!r}]  {field.description or ''}".rstrip()
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()


class UnitOfWork(BaseModel):
    """One independent piece of a step's work (a plate, a well, a chunk of sites)."""

    model_config = ConfigDict(frozen=True)

    id: str
    keys: dict[str, str] = Field(default_factory=dict)


class ModuleConfigError(ValueError):
    """A module was configured with something it cannot use."""


class StarryNightModule:
    """Base of every module. Subclasses set the class variables and `build_pipeline`."""

    #: registry name, e.g. "cp_illum_calc_loaddata"
    module_id: ClassVar[str]
    #: the step's folder in the workspace, e.g. "cp_illum_calc"
    step: ClassVar[str]
    Parameters: ClassVar[type[BaseModel]] = NoParameters
    container_image: ClassVar[str] = DEFAULT_CONTAINER_IMAGE
    requires_experiment: ClassVar[bool] = True

    def __init__(
        self,
        data_config: DataConfig,
        experiment: Experiment | None = None,
        parameters: BaseModel | None = None,
    ) -> None:
        if self.requires_experiment and experiment is None:
            raise ModuleConfigError(
                f"{type(self).__name__} needs an experiment: "
                f"{type(self).__name__}.from_config(data_config, experiment)"
            )
        self.data_config = data_config
        self.experiment = experiment
        params = parameters if parameters is not None else self.Parameters()
        if not isinstance(params, self.Parameters):
            raise ModuleConfigError(
                f"{type(self).__name__} parameters must be {self.Parameters.__name__}, "
                f"got {type(params).__name__}"
            )
        inputs, outputs = self.default_paths()
        self.spec = ModuleSpec(
            name=self.module_id,
            description=(inspect.getdoc(type(self)) or self.module_id).splitlines()[0],
            inputs=inputs,
            outputs=outputs,
            parameters=params,
        )

    @classmethod
    def from_config(
        cls, data_config: DataConfig, experiment: Experiment | None = None, **parameters: Any
    ) -> Self:
        """Build the module with default paths for this workspace; keyword args set parameters."""
        params = cls.Parameters(**parameters) if parameters else None
        return cls(data_config, experiment, params)

    @property
    def workspace(self) -> Path:
        return Path(self.data_config.workspace_path)

    @property
    def parameters(self) -> Any:
        return self.spec.parameters

    # --- what a step declares -------------------------------------------------------------
    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        """Default (inputs, outputs) roots of this module, from the naming module."""
        return {}, {}

    @property
    def uow(self) -> list[UnitOfWork]:
        """Units of work this module runs; one by default."""
        return [UnitOfWork(id=self.step)]

    def build_pipeline(self) -> pc.Command | pc.FanOut | pc.Seq | pc.Parallel:
        raise NotImplementedError(f"{type(self).__name__} does not build a pipeline")

    # --- what every module offers ------------------------------------------------------------
    @property
    def pipeline(self) -> pc.Command | pc.FanOut | pc.Seq | pc.Parallel:
        """The compute graph for the current spec (rebuilt on every access)."""
        return with_code_version(self.build_pipeline())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.module_id} units={len(self.uow)}>"


_REGISTRY: dict[str, type[StarryNightModule]] = {}


def with_code_version(graph: pc.Pipeline) -> pc.Pipeline:
    """The graph with the StarryNight version in every job's environment: a job's command
    then changes with the code that runs it, so an upgrade re-runs what it may change."""
    import pipecraft as pc

    if isinstance(graph, pc.Command | pc.FanOut):
        return graph.model_copy(update={"env": {**graph.env, CODE_VERSION_ENV: __version__}})
    return type(graph)([with_code_version(part) for part in graph.parts])


def register_module(cls: type[StarryNightModule]) -> type[StarryNightModule]:
    """Class decorator: make a module findable by its `module_id`."""
    existing = _REGISTRY.get(cls.module_id)
    if existing is not None and existing is not cls:
        raise ValueError(f"module id {cls.module_id!r} is registered twice")
    _REGISTRY[cls.module_id] = cls
    return cls


def get_module(module_id: str) -> type[StarryNightModule]:
    _import_all_steps()
    try:
        return _REGISTRY[module_id]
    except KeyError:
        raise KeyError(
            f"unknown module {module_id!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None


def _import_all_steps() -> None:
    import importlib
    import pkgutil

    import starrynight.modules as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg:
            importlib.import_module(f"starrynight.modules.{info.name}")
