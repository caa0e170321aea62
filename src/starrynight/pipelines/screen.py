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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ScreenConfigError(ValueError):
    """The screen config file is missing, unreadable or has a bad field."""


class ScreenConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace_path: str
    images_path: str
    scratch_path: str
    index_preset: str = "default"
    index_patterns: list[str] = Field(default_factory=list)
    experiment: dict[str, Any]
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    backend: dict[str, Any] = Field(default_factory=dict)


def load_screen_config(path: Path) -> tuple[ScreenConfig, Path]:
    """The parsed config and the folder its relative paths are relative to."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ScreenConfigError(f"cannot read screen config {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ScreenConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ScreenConfigError(f"{path}: expected a mapping of settings")
    try:
        return ScreenConfig.model_validate(raw), path.resolve().parent
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ScreenConfigError(f"{path}: {problems}") from None


def _resolve(base: Path, value: str) -> str:
    return value if "://" in value or Path(value).is_absolute() else str(base / value)


def run_screen(config_path: Path, pipeline_name: str = "pcp-generic", compile_only: bool = False):
    """Index the images, infer the experiment, build the pipeline and run (or only compile) it."""
    import pipecraft as pc
    from starrynight import naming
    from starrynight.config import DataConfig
    from starrynight.experiments.pcp_generic import PCPGenericExperiment
    from starrynight.pipelines import get_pipeline
    from starrynight.pipelines.index import create_index_pipeline

    config, base = load_screen_config(config_path)
    data_config = DataConfig(
        workspace_path=_resolve(base, config.workspace_path),
        images_path=_resolve(base, config.images_path),
        scratch_path=_resolve(base, config.scratch_path),
    )
    backend_config = pc.SnakemakeBackendConfig(**config.backend)
    backend = pc.SnakemakeBackend(backend_config)
    runs = Path(data_config.scratch_path) / "runs"

    try:
        _, index_pipeline = create_index_pipeline(
            data_config, parameters={"preset": config.index_preset, "patterns": config.index_patterns})
    except ValidationError as err:
        raise ScreenConfigError(f"{config_path}: {err.errors()[0]['msg']}") from None
    backend.run(index_pipeline, config=backend_config, working_dir=runs / "index")

    init = dict(config.experiment)
    if "barcode_csv_path" in init:
        init["barcode_csv_path"] = _resolve(base, str(init["barcode_csv_path"]))
    experiment = PCPGenericExperiment.from_index(
        naming.index_manifest(Path(data_config.workspace_path)), init
    )
    modules, pipeline = get_pipeline(pipeline_name)(data_config, experiment, config.parameters)
    working_dir = runs / pipeline_name
    if compile_only:
        return backend.compile(pipeline, config=backend_config, working_dir=working_dir)
    from starrynight.qc.figures import QCParameters
    from starrynight.qc.report import build_report

    def report(summary: Path, failure: str | None = None) -> None:  # now with run status and timing
        qc = QCParameters(**config.parameters.get("qc", {}))
        build_report(Path(data_config.workspace_path), summary, params=qc, screen_config=Path(config_path),
                     failure=failure)  # fmt: skip

    try:
        handle = backend.run(pipeline, config=backend_config, working_dir=working_dir)
    except pc.RunFailedError as err:
        from starrynight.qc.gate import stop_message, stopped_gates

        reasons = [stop_message(v) for v in stopped_gates(Path(data_config.workspace_path))]
        message = "\n".join([*reasons, str(err)])
        report(err.handle.summary_path, message)  # a failed run gets its report too
        raise pc.RunFailedError(message, err.handle) from None
    report(handle.summary_path)
    return handle
