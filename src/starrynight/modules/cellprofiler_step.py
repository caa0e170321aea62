"""The three modules every CellProfiler step is made of, written once.

A step (illumination calculation, segmentation check, ...) is described by a `CPStep`:
its name, its typed parameters, how its units of work are formed, which upstream outputs a
unit reads, which files a unit must produce, and the two functions that write its LoadData
CSVs and its `.cppipe`. From that description come:

- `GenLoadDataModule`: one job writing one LoadData CSV per unit of work;
- `GenCPipeModule`: one job writing the step's `.cppipe`;
- `InvokeCPModule`: a fan-out running CellProfiler once per unit (via `starrynight cp run`,
  which validates the pipeline first and checks the outputs afterwards);
- `step_cli`: the `loaddata` and `cppipe` CLI commands, with one option per parameter.

`module_classes(step, "Prefix", __name__)` makes the three concrete classes (`PrefixGenLoadDataModule`,
...), so a step's folder holds only its declaration, its writers and builders, and its tests.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from starrynight import naming
from starrynight.manifest import Product, Publication, read_manifests
from starrynight.modules.base import StarryNightModule, UnitOfWork, get_module, register_module

if TYPE_CHECKING:
    import click
    import polars as pl

    import pipecraft as pc
    from starrynight.experiments.protocol import Experiment


@dataclass(frozen=True)
class CPStep:
    """Everything that makes one CellProfiler step different from another."""

    name: str
    #: where the step's commands sit in the CLI tree, e.g. ("illum", "calc"); empty for a step
    #: declared elsewhere (a plugin, a test), whose commands are `starrynight step <declaration>`
    cli_path: tuple[str, ...]
    Parameters: type[BaseModel]
    #: the CSV writer, (index, experiment, params, images_root, out_dir, upstream) -> [Path],
    #: or its "module:function"
    loaddata_writer: str | Callable[..., list[Path]]
    #: the pipeline builder, (experiment, params) -> cppipe builder object, or "module:function"
    cppipe_builder: str | Callable[..., Any]
    units: Callable[[Any, Any], list[UnitOfWork]]
    #: the earlier steps whose published manifests the LoadData writer reads (it receives
    #: their rows as its `upstream` table and takes every path of theirs from it)
    reads: tuple[str, ...] = ()
    #: what a unit publishes, (experiment, params) -> [Product]: each must exist after the
    #: run, and the unit's manifest lists them
    products: Callable[[Any, Any], list[Product]] = field(default=lambda exp, params: [])
    #: what one unit asks of the scheduler; a user overrides it per node (`pc.with_resources`,
    #: or `resources:` in the screen config). Memory grows with each retry attempt.
    cores: int = 1
    mem_mb: int = 2000
    #: a unit running longer is stopped (locally by the job runner, on SLURM by its time limit)
    runtime_min: int = 120
    #: where this declaration is found when `cli_path` is empty: "package.module:NAME" or
    #: "/path/to/file.py:NAME"
    declaration: str = ""
    #: what the step is, for its modules' docstrings, e.g. "CP illumination calculation"
    title: str = ""

    @property
    def command(self) -> list[str]:
        """The CLI words before `loaddata` / `cppipe`."""
        if self.cli_path:
            return list(self.cli_path)
        if not self.declaration:
            raise ValueError(f"step {self.name!r} has neither cli_path nor declaration")
        return ["step", self.declaration]


def step_of(module: str, **declared: Any) -> CPStep:
    """The CPStep of a step module (`__name__`) that defines the step's parts under their usual
    names: `write_loaddata`, `build_cppipe`, `units` and `products`; `declared` gives the rest
    (name, cli_path, title, Parameters, reads, ...)."""
    import sys

    parts = sys.modules[module]
    return CPStep(
        loaddata_writer=parts.write_loaddata,
        cppipe_builder=parts.build_cppipe,
        units=parts.units,
        products=parts.products,
        **declared,
    )


def _load(target: str | Callable[..., Any]) -> Any:
    """A callable as given, or the object named by "package.module:attr" or "file.py:attr"."""
    if callable(target):
        return target
    where, attr = target.rsplit(":", 1)
    if where.endswith(".py"):
        return getattr(_file_module(where), attr)
    return getattr(importlib.import_module(where), attr)


def _file_module(path: str) -> Any:
    """The module of a Python file, executed once per process."""
    import importlib.util
    import sys

    name = f"_starrynight_step_{abs(hash(os.path.abspath(path)))}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot load a step declaration from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def parameter_args(params: BaseModel) -> list[str]:
    """The CLI options that reproduce `params` (the step CLI takes one option per field)."""
    args: list[str] = []
    for key in type(params).model_fields:
        args += [f"--{key.replace('_', '-')}", str(getattr(params, key))]
    return args


def experiment_args(experiment: Experiment) -> list[str]:
    """The job options passing the experiment itself: reading a module's graph writes
    nothing, and a job's command (hence its provenance) changes exactly when it does."""
    return ["--experiment-json", experiment.model_dump_json()]


def read_experiment(path: Path | None, text: str | None) -> Any:
    """The experiment a step command was given (`--experiment FILE` or `--experiment-json`)."""
    import click

    from starrynight.experiments.registry import experiment_from_text, load_experiment

    if (path is None) == (text is None):
        raise click.UsageError("give exactly one of --experiment and --experiment-json")
    return load_experiment(path) if path is not None else experiment_from_text(text)


class _CPStepModule(StarryNightModule):
    """Shared wiring of the three module kinds of a CellProfiler step."""

    cp_step: ClassVar[CPStep]
    stage: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("cp_step")
        if step is not None:
            cls.step = step.name
            cls.Parameters = step.Parameters
            cls.module_id = f"{step.name}_{cls.stage}"
            register_module(cls)

    @property
    def uow(self) -> list[UnitOfWork]:
        return self.cp_step.units(self.experiment, self.parameters)


def default_upstream_units(step: str, experiment: Experiment) -> list[UnitOfWork]:
    """The units `step` plans with its default parameters: what a module built on its own
    assumes of a step it reads. A pipeline passes the units its own modules plan instead
    (`step_modules(..., upstream=...)`); a manifest that is not there is an error naming it."""
    module = get_module(f"{step}_invoke")
    return module.cp_step.units(experiment, module.Parameters())


def upstream_manifests(workspace: Path, upstream: dict[str, list[UnitOfWork]]) -> list[Path]:
    """The manifest of every upstream unit (what the LoadData job reads and waits for)."""
    return [
        naming.unit_manifest(naming.unit_dir(naming.outputs_dir(workspace, step), unit.id))
        for step, units in upstream.items()
        for unit in units
    ]


class GenLoadDataModule(_CPStepModule):
    """Write one LoadData CSV per unit of work of the step."""

    stage = "loaddata"

    def __init__(self, *args: Any, upstream: dict[str, list[UnitOfWork]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        given = upstream or {}
        #: the units of the steps this step reads (step -> units), whose manifests it reads
        self.upstream = {
            earlier: given[earlier] if earlier in given else default_upstream_units(earlier, self.experiment)
            for earlier in self.cp_step.reads
        }

    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        ws = self.workspace
        return (
            {"index": naming.index_table(ws)},
            {"loaddata": naming.loaddata_dir(ws, self.step)},
        )

    def loaddata_csvs(self) -> list[Path]:
        out_dir = self.spec.outputs["loaddata"]
        return [naming.unit_csv(out_dir, unit.id) for unit in self.uow]

    def sources(self) -> list[Path]:
        out_dir = self.spec.outputs["loaddata"]
        return [naming.unit_sources(out_dir, unit.id) for unit in self.uow]

    def build_pipeline(self) -> pc.Command:
        import pipecraft as pc

        manifests = upstream_manifests(self.workspace, self.upstream)
        return pc.Command(
            name=f"{self.step}_loaddata",
            argv=[
                "starrynight",
                *self.cp_step.command,
                "loaddata",
                "--images",
                str(self.data_config.images_path),
                "--index",
                str(self.spec.inputs["index"]),
                *experiment_args(self.experiment),
                "--out-dir",
                str(self.spec.outputs["loaddata"]),
                *parameter_args(self.parameters),
                *[a for path in manifests for a in ("--upstream", str(path))],
            ],
            inputs={"index": [self.spec.inputs["index"]], "upstream": manifests},
            outputs={"csv": self.loaddata_csvs(), "sources": self.sources()},
            container=self.container_image,
        )


def container_reads(module: Any) -> list[str]:
    """Local folders a step reads beyond its inputs, bound read-only in a container: LoadData
    CSVs name images and upstream outputs, and pipelines name the barcode library."""
    barcodes = getattr(module.experiment, "barcode_csv_path", None)
    folders = [module.data_config.images_path, module.data_config.workspace_path,
               Path(barcodes).parent if barcodes and "://" not in str(barcodes) else None]
    return [str(p) for p in folders if isinstance(p, Path)]


class GenCPipeModule(_CPStepModule):
    """Write the step's CellProfiler pipeline (`.cppipe`)."""

    stage = "cppipe"

    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        ws = self.workspace
        return {}, {"cppipe": naming.cppipe_path(ws, self.step)}

    @property
    def uow(self) -> list[UnitOfWork]:
        return [UnitOfWork(id=self.step)]

    def build_pipeline(self) -> pc.Command:
        import pipecraft as pc

        return pc.Command(
            name=f"{self.step}_cppipe",
            argv=[
                "starrynight",
                *self.cp_step.command,
                "cppipe",
                *experiment_args(self.experiment),
                "--output",
                str(self.spec.outputs["cppipe"]),
                *parameter_args(self.parameters),
            ],
            outputs={"cppipe": [self.spec.outputs["cppipe"]]},
            container=self.container_image,
            reads=container_reads(self),
        )


class InvokeCPModule(_CPStepModule):
    """Run CellProfiler once per unit of work: the step's pipeline on the unit's LoadData CSV."""

    stage = "invoke"

    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        ws = self.workspace
        return (
            {
                "loaddata": naming.loaddata_dir(ws, self.step),
                "cppipe": naming.cppipe_path(ws, self.step),
            },
            {"outputs": naming.outputs_dir(ws, self.step)},
        )

    def unit_output_dir(self, unit: UnitOfWork) -> Path:
        return naming.unit_dir(self.spec.outputs["outputs"], unit.id)

    def build_pipeline(self) -> pc.FanOut:
        import pipecraft as pc

        step = self.cp_step
        publication = Publication(step=step.name, products=step.products(self.experiment, self.parameters))
        loaddata = self.spec.inputs["loaddata"]
        units = [
            pc.Unit(
                id=unit.id,
                inputs={
                    "loaddata": [naming.unit_csv(loaddata, unit.id)],
                    "sources": [naming.unit_sources(loaddata, unit.id)],
                    "cppipe": [self.spec.inputs["cppipe"]],
                },
            )
            for unit in self.uow
        ]
        return pc.FanOut(
            name=f"{self.step}_invoke",
            argv=[
                "starrynight",
                "cp",
                "run",
                "--pipeline",
                "{input.cppipe}",
                "--data-file",
                "{input.loaddata}",
                "--output-dir",
                "{output.out}",
                "--publication-json",
                publication.model_dump_json(),
            ],
            units=units,
            outputs={
                "out": pc.directory(str(naming.unit_dir(self.spec.outputs["outputs"], "{unit}")))
            },
            container=self.container_image,
            reads=container_reads(self),
            resources=pc.Resources(cores=step.cores, mem_mb=step.mem_mb, runtime_min=step.runtime_min),
        )


def module_classes(
    step: CPStep, class_prefix: str, module: str
) -> tuple[type[GenLoadDataModule], type[GenCPipeModule], type[InvokeCPModule]]:
    """The step's three module classes, `<class_prefix>GenLoadDataModule`, `...GenCPipeModule`
    and `...InvokeCPModule`, registered under `<step>_loaddata|cppipe|invoke`.

    `module` is the importable name the classes are bound to (the step package's `__name__`),
    so they are found, shown and pickled under it.
    """
    title = step.title or step.name
    docs = {
        GenLoadDataModule: f"Write the LoadData CSVs of {title}, one per unit of work.",
        GenCPipeModule: f"Write the {title} pipeline.",
        InvokeCPModule: f"Run the {title} pipeline in CellProfiler, once per unit of work.",
    }
    made = []
    for base, doc in docs.items():
        name = f"{class_prefix}{base.__name__}"
        attrs = {"cp_step": step, "__doc__": doc, "__module__": module, "__qualname__": name}
        made.append(type(name, (base,), attrs))
    return made[0], made[1], made[2]


def publish_plan(module: GenLoadDataModule, index: pl.DataFrame, upstream: pl.DataFrame | None = None) -> pl.DataFrame:
    """What the step's units will publish (their manifest rows, sizes unknown), from their
    LoadData alone: writes the module's LoadData CSVs (its own outputs) and returns the rows,
    paths absolute. For previewing a later step's LoadData before this step has run."""
    import polars as pl

    from starrynight.config import to_path
    from starrynight.manifest import SCHEMA, expected_files

    step = module.cp_step
    upstream = upstream if upstream is not None else read_manifests([])
    out_dir = Path(module.spec.outputs["loaddata"])
    images_root = to_path(module.data_config.images_path)
    written = _load(step.loaddata_writer)(index, module.experiment, module.parameters, images_root, out_dir, upstream)
    publication = Publication(step=step.name, products=step.products(module.experiment, module.parameters))
    outputs = naming.outputs_dir(module.workspace, step.name)
    frames = []
    for csv in written:
        rows = expected_files(publication, pl.read_csv(csv, infer_schema_length=0), producer="planned")
        folder = str(naming.unit_dir(outputs, naming.csv_unit(csv)))
        frames.append(rows.with_columns(unit=pl.lit(naming.csv_unit(csv)),
                                        path=pl.concat_str([pl.lit(folder + "/"), pl.col("path")])))  # fmt: skip
    empty = pl.DataFrame(schema={**SCHEMA, "unit": pl.String})
    return pl.concat([empty, *frames], how="diagonal_relaxed")


def step_modules(
    step_modules_: tuple[type[GenLoadDataModule], type[GenCPipeModule], type[InvokeCPModule]],
    data_config: Any,
    experiment: Experiment,
    parameters: BaseModel | None = None,
    upstream: dict[str, list[UnitOfWork]] | None = None,
) -> list[StarryNightModule]:
    """The three modules of a step sharing ONE parameters object, so their units agree.

    `upstream` gives the units of the steps it reads (step -> units, e.g. from those steps'
    modules' `uow`); for a step it does not name, that step's default chunking is assumed."""
    loaddata_cls, cppipe_cls, invoke_cls = step_modules_
    params = parameters if parameters is not None else loaddata_cls.Parameters()
    return [
        loaddata_cls(data_config, experiment, params, upstream=upstream),
        cppipe_cls(data_config, experiment, params),
        invoke_cls(data_config, experiment, params),
    ]


def step_cli(step: CPStep) -> click.Group:
    """`starrynight <step> loaddata|cppipe`, with one option per parameter of the step."""
    import click

    def param_options(fn: Callable) -> Callable:
        for key, info in reversed(list(step.Parameters.model_fields.items())):
            fn = click.option(
                f"--{key.replace('_', '-')}", key, default=None, help=info.description
            )(fn)
        return fn

    def parse_params(values: dict[str, Any]) -> BaseModel:
        given = {k: v for k, v in values.items() if v is not None}
        return step.Parameters(**given)

    def experiment_options(fn: Callable) -> Callable:
        fn = click.option(
            "--experiment-json",
            "experiment_text",
            default=None,
            help="The experiment itself, as JSON text (what modules pass).",
        )(fn)
        return click.option(
            "--experiment",
            "experiment_path",
            type=click.Path(path_type=Path),
            default=None,
            help="Experiment JSON file.",
        )(fn)

    name = step.cli_path[-1] if step.cli_path else step.declaration

    @click.group(name=name, help=f"{step.title or step.name}: LoadData and pipeline generation.")
    def group() -> None:
        pass

    @group.command("loaddata")
    @click.option("--images", required=True, help="Images root (folder or URL).")
    @click.option("--index", "index_path", type=click.Path(path_type=Path), required=True)
    @experiment_options
    @click.option("--out-dir", type=click.Path(path_type=Path), required=True)
    @click.option(
        "--upstream", "manifests", multiple=True, type=click.Path(path_type=Path),
        help="Manifest of an upstream unit this step reads (repeatable).",
    )  # fmt: skip
    @param_options
    def loaddata(images, index_path, experiment_path, experiment_text, out_dir, manifests, **values):
        """Write one LoadData CSV per unit of work."""
        import polars as pl

        from starrynight.cli_errors import user_errors
        from starrynight.config import to_path
        from starrynight.modules.loaddata import write_unit_sources

        with user_errors():
            params = parse_params(values)
            experiment = read_experiment(experiment_path, experiment_text)
            index = pl.read_parquet(index_path)
            upstream = read_manifests(manifests)
            images_root = to_path(images)  # a URL stays a URL (pathlib would fold its "//")
            writer = _load(step.loaddata_writer)
            written = writer(index, experiment, params, images_root, out_dir, upstream)
            write_unit_sources(written, index, images_root, upstream)
            click.echo(f"{step.name}: wrote {len(written)} LoadData CSV(s) to {out_dir}")

    @group.command("cppipe")
    @experiment_options
    @click.option("--output", type=click.Path(path_type=Path), required=True)
    @param_options
    def cppipe(experiment_path, experiment_text, output, **values):
        """Write the step's CellProfiler pipeline."""
        from starrynight.cli_errors import user_errors

        with user_errors():
            params = parse_params(values)
            experiment = read_experiment(experiment_path, experiment_text)
            pipeline = _load(step.cppipe_builder)(experiment, params)
            pipeline.write(output)
            click.echo(f"{step.name}: wrote {output}")

    return group
