"""Run a whole screen from one config file (`starrynight run pcp-generic --config screen.yaml`).

The config names the three data locations, the experiment's init config, optional step
parameters and backend settings. Relative paths are relative to the config file.

    workspace_path: workspace
    images_path: images
    scratch_path: scratch
    index_preset: default         # or index_patterns: [regex with named groups, ...]
    experiment:
      nuclear_channel: DAPI
      cell_channel: CellMask
      mito_channel: MitoTracker
      barcode_csv_path: workspace/barcodes.csv
      image_overlap_percentage: 10
    parameters:
      cp_illum_apply: {sites_per_unit: 4}
    backend:
      cores: 2
      profile: profiles/slurm      # a Snakemake profile folder
      units_per_job: 8             # fan-out units per job (per cluster submission)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from starrynight.config import LocationError, check_locations
from starrynight.messages import describe_validation
from starrynight.pipelines.pcp_generic import ParameterError
from starrynight.user_yaml import UserYamlError, read_user_yaml


class ScreenConfigError(ValueError):
    """The screen config file is missing, unreadable or has a bad field."""


class ScreenConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace_path: str
    images_path: str
    scratch_path: str
    index_preset: str = "default"
    index_patterns: list[str] = Field(default_factory=list)
    experiment_kind: str = Field(
        default="pcp-generic", description="which registered experiment the init config is for"
    )
    experiment: dict[str, Any]
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    backend: dict[str, Any] = Field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per node (rule) name: cores, mem_mb, runtime_min, replacing the step's own",
    )
    allow_unparsed_images: bool = Field(
        default=False,
        description="go on when image-like files did not parse (they are left out of the run)",
    )

    @field_validator("index_preset")
    @classmethod
    def _known_preset(cls, preset: str) -> str:
        from starrynight.modules.index.parse import parser_settings_problem

        problem = parser_settings_problem(preset)
        if problem:
            raise ValueError(problem)
        return preset

    @field_validator("index_patterns")
    @classmethod
    def _usable_patterns(cls, patterns: list[str]) -> list[str]:
        from starrynight.modules.index.parse import parser_settings_problem

        problem = parser_settings_problem(patterns=patterns)
        if problem:
            raise ValueError(problem)
        return patterns


def load_screen_config(path: Path) -> tuple[ScreenConfig, Path]:
    """The parsed config and the folder its relative paths are relative to."""
    path = Path(path)
    try:
        raw = read_user_yaml(path, "screen config")
    except UserYamlError as err:
        raise ScreenConfigError(str(err)) from None
    if not isinstance(raw, dict):
        raise ScreenConfigError(f"{path}: expected a mapping of settings")
    try:
        return ScreenConfig.model_validate(raw), path.resolve().parent
    except ValidationError as err:
        raise ScreenConfigError(f"{path}: {describe_validation(err, '', ScreenConfig)}") from None


def _resolve(base: Path, value: str) -> str:
    """A config path as an absolute one: URLs as given, `~` expanded, relative ones from `base`."""
    if "://" in value:
        return value
    return str(base / os.path.expanduser(value))  # an absolute path replaces base


def run_screen(
    config_path: Path,
    pipeline_name: str = "pcp-generic",
    compile_only: bool = False,
    backend: dict[str, Any] | None = None,
):
    """Index the images, infer the experiment, build the pipeline and run (or only compile) it.

    `backend` settings (from the command line) replace the config's `backend:` ones.
    """
    import pipecraft as pc
    from starrynight import naming
    from starrynight.config import DataConfig
    from starrynight.experiments.pcp_generic import ExperimentError
    from starrynight.experiments.registry import get_experiment
    from starrynight.pipelines import get_pipeline
    from starrynight.pipelines.index import create_index_pipeline

    config, base = load_screen_config(config_path)
    try:
        data_config = DataConfig(
            workspace_path=_resolve(base, config.workspace_path),
            images_path=_resolve(base, config.images_path),
            scratch_path=_resolve(base, config.scratch_path),
        )
        settings = dict(config.backend)
        if isinstance(settings.get("profile"), str):
            settings["profile"] = _resolve(base, settings["profile"])
        backend_config = pc.SnakemakeBackendConfig(**{**settings, **(backend or {})})
        backend_config = backend_config.model_copy(
            update={
                "software_versions": {**software_versions(), **backend_config.software_versions}
            }
        )
    except ValidationError as err:
        model = DataConfig if err.title == DataConfig.__name__ else pc.SnakemakeBackendConfig
        where = "" if model is DataConfig else "backend."
        raise ScreenConfigError(
            f"{config_path}: {describe_validation(err, where, model)}"
        ) from None
    try:
        check_locations(data_config)
    except LocationError as err:
        raise ScreenConfigError(f"{config_path}: {err}") from None
    runner = pc.SnakemakeBackend(backend_config)
    scratch = Path(data_config.scratch_path)

    try:
        _, index_pipeline = create_index_pipeline(
            data_config,
            parameters={"preset": config.index_preset, "patterns": config.index_patterns},
        )
    except ValidationError as err:
        raise ScreenConfigError(f"{config_path}: {describe_validation(err)}") from None
    _check_runtime(backend_config, compile_only, config_path)
    # The index must exist to build the pipeline; compiling runs it on this machine, so that
    # compiling never needs the container runtime the run itself will use.
    index_config = (
        backend_config.model_copy(update={"container_runtime": "none"})
        if compile_only
        else backend_config
    )
    try:
        runner.run(
            index_pipeline, config=index_config, working_dir=naming.run_folder(scratch, "index")
        )
    except pc.RunInterruptedError:
        raise
    except pc.RunFailedError as err:
        what = "indexing failed" if err.handle.failed_jobs() else "Snakemake did not start the run"
        raise ScreenConfigError(f"{what}: {err.handle.first_error()}") from None
    report_unparsed(data_config.workspace_path, config.allow_unparsed_images, config_path)

    init = dict(config.experiment)
    if isinstance(init.get("barcode_csv_path"), str):  # other types: the experiment names them
        init["barcode_csv_path"] = _resolve(base, init["barcode_csv_path"])
    try:
        experiment_class = get_experiment(config.experiment_kind)
    except ExperimentError as err:
        raise ScreenConfigError(f"{config_path}: experiment_kind: {err}") from None
    experiment = experiment_class.from_index(
        naming.index_manifest(Path(data_config.workspace_path)), init
    )
    try:
        modules, pipeline = get_pipeline(pipeline_name)(data_config, experiment, config.parameters)
    except ParameterError as err:
        raise ScreenConfigError(f"{config_path}: {err}") from None
    pipeline = _with_resources(pipeline, config.resources, config_path)
    working_dir = naming.run_folder(scratch, pipeline_name)
    if compile_only:
        return runner.compile(pipeline, config=backend_config, working_dir=working_dir)
    from starrynight.qc.figures import QCParameters
    from starrynight.qc.report import build_report

    def report(summary: Path, failure: str | None = None) -> None:  # now with run status and timing
        qc = QCParameters(**config.parameters.get("qc", {}))
        build_report(Path(data_config.workspace_path), summary, params=qc, screen_config=Path(config_path),
                     failure=failure, barcode_csv=Path(experiment.barcode_csv_path))  # fmt: skip

    try:
        handle = runner.run(pipeline, config=backend_config, working_dir=working_dir)
    except pc.RunFailedError as err:
        from starrynight.qc.gate import stop_message, stopped_gates

        qc = QCParameters(**config.parameters.get("qc", {}))
        reasons = [stop_message(v) for v in stopped_gates(Path(data_config.workspace_path), qc)]
        message = "\n".join([*reasons, str(err)])
        report(err.handle.summary_path, message)  # a failed run gets its report too
        raise type(err)(message, err.handle) from None  # an interrupted run stays one
    ran = any(job["status"] == "succeeded" for job in (handle.summary() or {}).get("jobs", []))
    if ran or not naming.qc_report(Path(data_config.workspace_path)).exists():
        report(handle.summary_path)  # an up-to-date screen keeps the report of the run that made it
    return handle


def _with_resources(pipeline: Any, overrides: dict[str, dict[str, Any]], config_path: Path) -> Any:
    """The pipeline with the screen config's per-node resources; a bad entry is one line."""
    import pipecraft as pc

    for name, fields in overrides.items():
        try:
            pc.Resources.model_validate(fields)
        except ValidationError as err:
            where = f"resources.{name}."
            raise ScreenConfigError(
                f"{config_path}: {describe_validation(err, where, pc.Resources)}"
            ) from None
    try:
        return pc.with_resources(pipeline, overrides)
    except ValueError as err:
        raise ScreenConfigError(f"{config_path}: resources: {err}") from None


def software_versions() -> dict[str, str]:
    """StarryNight's version and CellProfiler's, for the run summary and the report."""
    from starrynight import __version__
    from starrynight.cellprofiler.errors import CellProfilerNotFound
    from starrynight.cellprofiler.locate import cellprofiler_python, cellprofiler_version

    try:
        cellprofiler = cellprofiler_version(cellprofiler_python())
    except CellProfilerNotFound:
        cellprofiler = "not found"
    return {"starrynight": __version__, "cellprofiler": cellprofiler}


def _check_runtime(backend_config: Any, compile_only: bool, config_path: Path) -> None:
    """A run (not a compile) in containers needs the runtime's client on PATH: say so first."""
    import shutil

    runtime = backend_config.container_runtime
    if compile_only or runtime == "none" or shutil.which(runtime):
        return
    raise ScreenConfigError(
        f"{config_path}: backend.container_runtime is {runtime!r} but `{runtime}` is not on PATH; "
        "install it, or use --compile-only to write the workflow without running it"
    )


#: unparsed reasons of files that are not images in the first place
NOT_IMAGES = ("hidden file", "not an image")


def report_unparsed(workspace: Any, allow: bool, config_path: Path) -> None:
    """Print what the index left out; refuse to go on when image-like files did not parse."""
    import polars as pl

    from starrynight import naming
    from starrynight.config import read_parquet
    from starrynight.index_table import read_manifest

    counts = read_manifest(naming.index_manifest(workspace))["counts"]
    by_arm = ", ".join(f"{arm} {n:,}" for arm, n in counts["by_arm"].items())
    print(f"index: {counts['indexed']:,} images ({by_arm}); {counts['unparsed']:,} files not indexed",
          file=sys.stderr)  # fmt: skip
    for reason, n in counts["unparsed_by_reason"].items():
        print(f"  {n:>8,}  {reason}", file=sys.stderr)
    unparsed = read_parquet(naming.unparsed_table(workspace))
    images = unparsed.filter(pl.col("reason").is_in(NOT_IMAGES).not_())
    if images.height == 0 or allow:
        return
    shown = "; ".join(f"{r['key']} ({r['reason']})" for r in images.head(3).iter_rows(named=True))
    raise ScreenConfigError(
        f"{images.height:,} image file(s) were not indexed and would be left out of the run, e.g. "
        f"{shown}; all: {naming.unparsed_table(workspace)}. Fix the names or the index pattern, "
        f"or set allow_unparsed_images: true in {config_path} to run without them"
    )
