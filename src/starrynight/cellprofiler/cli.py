"""`starrynight cp run|validate|build`: headless CellProfiler with validation and output checks."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from starrynight.cellprofiler import PLUGINS_DIR
from starrynight.cellprofiler.errors import CellProfilerError


def _parse_groups(values: tuple[str, ...]) -> dict[str, str]:
    groups: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not Metadata_Key=value", param_hint="--group")
        groups[key] = value
    return groups


def _fail(error: CellProfilerError) -> None:
    click.echo(f"error: {error}", err=True)
    sys.exit(1)


def _terminate(signum: int, _frame: object) -> None:
    # SIGTERM (e.g. Snakemake cancelling) unwinds through the runner's cleanup.
    raise SystemExit(128 + signum)


_pipeline_opt = click.option("--pipeline", "-p", required=True, type=click.Path(dir_okay=False, path_type=Path))
_plugins_opt = click.option("--plugins-directory", default=PLUGINS_DIR, show_default=True,
                            type=click.Path(file_okay=False, exists=True, path_type=Path))
_group_opt = click.option("--group", "-g", "groups", multiple=True, metavar="Metadata_Key=value",
                          help="Run only the image sets of this group (repeatable).")


@click.group("cp")
def cp_group() -> None:
    """Validate and run CellProfiler pipelines headless."""


@cp_group.command("run")
@_pipeline_opt
@click.option("--data-file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="LoadData CSV.")
@click.option("--output-dir", "-o", required=True, type=click.Path(file_okay=False, path_type=Path))
@_group_opt
@click.option("--expect", multiple=True, metavar="PATTERN",
              help="Expected output (glob relative to the output dir); each must match a non-empty file.")
@click.option("--publication-json", default=None, metavar="JSON",
              help="The step and the files each unit publishes (starrynight.manifest.Publication); "
                   "every one must exist, and the unit's manifest lists them.")
@_plugins_opt
def run_command(pipeline: Path, data_file: Path, output_dir: Path, groups: tuple[str, ...],
                expect: tuple[str, ...], publication_json: str | None, plugins_directory: Path) -> None:
    """Validate PIPELINE, run it on DATA_FILE into OUTPUT_DIR (atomically), check outputs."""
    from pydantic import ValidationError

    from starrynight.cellprofiler.runner import run_pipeline
    from starrynight.manifest import Publication

    signal.signal(signal.SIGTERM, _terminate)
    try:
        publication = Publication.model_validate_json(publication_json) if publication_json else None
    except ValidationError as error:
        raise click.BadParameter(str(error).splitlines()[0], param_hint="--publication-json") from None
    try:
        result = run_pipeline(pipeline, data_file, output_dir, _parse_groups(groups), expect,
                              plugins_directory, publication=publication)
    except CellProfilerError as e:
        _fail(e)
    n = sum(len(v) for v in result.outputs.values())
    click.echo(f"cellprofiler: done in {result.seconds:.1f} s -> {result.output_dir} ({n} expected files)")


@cp_group.command("validate")
@_pipeline_opt
@click.option("--data-file", type=click.Path(dir_okay=False, path_type=Path),
              help="LoadData CSV; enables the image-name checks.")
@_group_opt
@_plugins_opt
def validate_command(pipeline: Path, data_file: Path | None, groups: tuple[str, ...],
                     plugins_directory: Path) -> None:
    """Check that CellProfiler loads PIPELINE as written and that it would run on DATA_FILE."""
    from starrynight.cellprofiler.validation import validate_pipeline

    try:
        report = validate_pipeline(pipeline, data_file, _parse_groups(groups), plugins_directory)
    except CellProfilerError as e:
        _fail(e)
    click.echo(f"ok: {len(report.modules)} modules: {', '.join(report.modules)}")
