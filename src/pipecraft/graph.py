"""The graph model: commands, fan-outs and their composition.

Nodes are plain pydantic models so that a pipeline can be printed and inspected before
anything runs. Every command is an argv list; it is never joined into a shell string here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipecraft.errors import GraphError

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
UNIT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_NAMES = {"all"}

PathLike = str | Path


class Resources(BaseModel):
    """Resource hints; mapped to Snakemake threads/mem_mb/runtime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cores: int = Field(1, ge=1)
    mem_mb: int | None = Field(None, ge=1)
    runtime_min: int | None = Field(None, ge=1)


class Output(BaseModel):
    """One output path, explicitly a file or a directory (never guessed from a suffix)."""

    model_config = ConfigDict(frozen=True)

    path: str
    kind: Literal["file", "directory"] = "file"

    @field_validator("path", mode="before")
    @classmethod
    def _as_str(cls, v: Any) -> str:
        return _path_str(v, "output path")


def file(path: PathLike) -> Output:
    """Declare a file output."""
    return Output(path=path, kind="file")


def directory(path: PathLike) -> Output:
    """Declare a directory output (Snakemake's directory())."""
    return Output(path=path, kind="directory")


def _path_str(v: Any, what: str) -> str:
    if isinstance(v, Path):
        v = str(v)
    if not isinstance(v, str) or v == "":
        raise ValueError(f"{what} must be a non-empty str or Path, got {v!r}")
    if "\0" in v:
        raise ValueError(f"{what} {v!r} contains a NUL byte")
    return v


def _check_key(key: Any, what: str) -> str:
    """Input, output and param names are Python identifiers: argv tokens and comments use them."""
    if not isinstance(key, str) or not key.isidentifier():
        raise ValueError(f"{what} name {key!r} is not allowed: use a Python identifier "
                         "(letters, digits and underscores, not starting with a digit)")
    return key


def _path_list(v: Any, what: str) -> list[str]:
    items = v if isinstance(v, list | tuple) else [v]
    return [_path_str(p, what) for p in items]


def _output_list(v: Any) -> list[Output]:
    items = v if isinstance(v, list | tuple) else [v]
    return [o if isinstance(o, Output) else file(o) for o in items]


def _check_name(name: str) -> str:
    if not NAME_RE.match(name) or "__" in name or name in RESERVED_NAMES:
        raise ValueError(
            f"node name {name!r} is not allowed: use letters, digits and single underscores, "
            "starting with a letter (it becomes a Snakemake rule name); 'all' is reserved"
        )
    return name


def _check_env(env: dict[str, str]) -> dict[str, str]:
    for key, value in env.items():
        if not ENV_RE.match(key):
            raise ValueError(f"environment variable name {key!r} is not a valid identifier")
        if "\0" in value:
            raise ValueError(f"environment variable {key} contains a NUL byte")
    return env


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    argv: list[str]
    container: str | None = None
    #: host folders a job reads that are not among its inputs (a raw images tree, a
    #: workspace its data files point into): a docker container binds them read-only
    reads: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    retries: int = Field(0, ge=0)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_name(v)

    @field_validator("argv", mode="before")
    @classmethod
    def _argv(cls, v: Any) -> list[str]:
        if isinstance(v, str) or not isinstance(v, list | tuple) or not v:
            raise ValueError("argv must be a non-empty list of strings (never a shell string)")
        out = [str(a) if isinstance(a, Path | int | float) else a for a in v]
        if not all(isinstance(a, str) and "\0" not in a for a in out):
            raise ValueError(f"argv elements must be strings without NUL bytes: {v!r}")
        return out

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_env(v)


class Command(_Node):
    """One command run once, with named inputs and outputs.

    With `on_failure`, the command also runs when the run fails, once every job that could
    run has ended (a report of what happened, whichever way the run was started); it then
    finds the failed run's Snakemake log in `$PIPECRAFT_FAILED_RUN_LOG`.
    """

    inputs: dict[str, list[str]] = Field(default_factory=dict)
    outputs: dict[str, list[Output]] = Field(default_factory=dict)
    on_failure: bool = False

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, v: Any) -> dict[str, list[str]]:
        return {_check_key(k, "input"): _path_list(p, f"input {k!r}") for k, p in dict(v).items()}

    @field_validator("outputs", mode="before")
    @classmethod
    def _outputs(cls, v: Any) -> dict[str, list[Output]]:
        return {_check_key(k, "output"): _output_list(o) for k, o in dict(v).items()}


class Unit(BaseModel):
    """One unit of work of a fan-out: its id, its own inputs and parameters."""

    model_config = ConfigDict(frozen=True)

    id: str
    inputs: dict[str, list[str]] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not UNIT_RE.match(v):
            raise ValueError(
                f"unit id {v!r} must match {UNIT_RE.pattern} (it names log and benchmark files)"
            )
        return v

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, v: Any) -> dict[str, list[str]]:
        return {_check_key(k, "input"): _path_list(p, f"input {k!r}") for k, p in dict(v).items()}

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, v: Any) -> dict[str, str]:
        return {_check_key(k, "param"): str(p) if not isinstance(p, str) else p
                for k, p in dict(v).items()}


class FanOut(_Node):
    """One command template run once per unit; outputs are templates containing {unit}.

    argv tokens `{unit}`, `{input.NAME}`, `{output.NAME}`, `{param.NAME}` are substituted
    per unit; an element exactly equal to `{input.NAME}` or `{output.NAME}` expands to all
    of that unit's paths as separate arguments. `batch_size` packs that many units into one
    Snakemake job (None: automatic, see SnakemakeBackendConfig.max_jobs_per_fanout).
    """

    units: list[Unit]
    outputs: dict[str, list[Output]] = Field(default_factory=dict)
    batch_size: int | None = Field(None, ge=1)

    @field_validator("outputs", mode="before")
    @classmethod
    def _outputs(cls, v: Any) -> dict[str, list[Output]]:
        outs = {_check_key(k, "output"): _output_list(o) for k, o in dict(v).items()}
        for key, items in outs.items():
            for o in items:
                if "{unit}" not in o.path:
                    raise ValueError(f"fan-out output {key!r} template {o.path!r} lacks {{unit}}")
        return outs

    @model_validator(mode="after")
    def _unique_units(self) -> FanOut:
        seen: set[str] = set()
        for u in self.units:
            if u.id in seen:
                raise ValueError(f"fan-out {self.name!r}: unit id {u.id!r} appears twice")
            seen.add(u.id)
        return self


Node = Command | FanOut


class Seq(BaseModel):
    """Run the parts one after another: every part waits for the previous one."""

    model_config = ConfigDict(frozen=True)

    parts: list[Command | FanOut | Seq | Parallel]

    def __init__(self, parts: list[Any] | None = None, **kw: Any) -> None:
        super().__init__(parts=list(parts if parts is not None else kw.pop("parts", [])), **kw)


class Parallel(BaseModel):
    """Run the parts independently of each other."""

    model_config = ConfigDict(frozen=True)

    parts: list[Command | FanOut | Seq | Parallel]

    def __init__(self, parts: list[Any] | None = None, **kw: Any) -> None:
        super().__init__(parts=list(parts if parts is not None else kw.pop("parts", [])), **kw)


Pipeline = Command | FanOut | Seq | Parallel


def flatten(pipeline: Pipeline) -> tuple[list[Node], set[tuple[str, str]]]:
    """Nodes in composition order and the (before, after) edges composition implies."""
    nodes: list[Node] = []
    edges: set[tuple[str, str]] = set()

    def walk(p: Pipeline) -> tuple[list[str], list[str]]:
        if isinstance(p, Command | FanOut):
            nodes.append(p)
            return [p.name], [p.name]
        if isinstance(p, Seq):
            entries: list[str] = []
            exits: list[str] = []
            for part in p.parts:
                ent, ex = walk(part)
                if not ent:  # an empty part (Seq([]), Parallel([])) orders nothing
                    continue
                if entries:
                    edges.update((a, b) for a in exits for b in ent)
                else:
                    entries = ent
                exits = ex
            return entries, exits
        if isinstance(p, Parallel):
            ents: list[str] = []
            exs: list[str] = []
            for part in p.parts:
                ent, ex = walk(part)
                ents += ent
                exs += ex
            return ents, exs
        raise GraphError(f"not a pipeline element: {p!r}")

    walk(pipeline)
    names: dict[str, Node] = {}
    for n in nodes:
        if n.name in names and names[n.name] is not n:
            raise GraphError(f"two different nodes are both named {n.name!r}")
        names[n.name] = n
    unique = list(names.values())
    return unique, edges


Seq.model_rebuild()
Parallel.model_rebuild()


def with_resources(pipeline: Pipeline, overrides: dict[str, Resources | dict[str, Any]]) -> Pipeline:
    """The pipeline with the resources of the named nodes replaced, field by field (a dict
    sets only the fields it names). A name that is no node of the pipeline is an error
    naming the nodes there are."""
    nodes, _ = flatten(pipeline)
    names = {node.name for node in nodes}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"no node named {', '.join(map(repr, unknown))} in this pipeline; "
                         f"its nodes: {', '.join(sorted(names))}")  # fmt: skip

    def replace(p: Pipeline) -> Pipeline:
        if isinstance(p, Command | FanOut):
            change = overrides.get(p.name)
            if change is None:
                return p
            fields = change.model_dump(exclude_unset=True) if isinstance(change, Resources) else change
            resources = Resources.model_validate({**p.resources.model_dump(), **fields})
            return p.model_copy(update={"resources": resources})
        return type(p)([replace(part) for part in p.parts])

    return replace(pipeline)
