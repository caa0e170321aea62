"""`starrynight qc report`."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("qc")
def qc_group() -> None:
    """Quality control of a run."""


@qc_group.command("report")
@click.option("--workspace", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--run-summary", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="run_summary.json of the run, for the timing section.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Report file (default: <workspace>/qc/report.html).")
@click.option("--parameters", default="{}", show_default=True,
              help="QCParameters as JSON (thresholds of the headline figures).")
@click.option("--screen-config", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The screen config file, shown in the report's header.")
@click.option("--barcode-csv", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The screen's barcode library, for library coverage (default: the experiment's).")
def report_command(workspace: Path, run_summary: Path | None, out: Path | None, parameters: str,
                   screen_config: Path | None, barcode_csv: Path | None) -> None:
    """Write one self-contained HTML report of the workspace's results. Run after a failed run
    (the pipeline's failure handler sets $PIPECRAFT_FAILED_RUN_LOG), it leads with what failed."""
    from pipecraft.failure import failed_run_log
    from starrynight.cli_errors import user_errors
    from starrynight.modules.profiles.cli import parse_parameters
    from starrynight.qc.figures import QCParameters
    from starrynight.qc.report import build_report, failure_from_log

    params = parse_parameters(QCParameters, parameters, "qc")
    with user_errors():
        failed = failed_run_log()
        failure = failure_from_log(workspace, failed, params) if failed is not None else None
        click.echo(build_report(workspace, run_summary, out, params, screen_config, failure=failure,
                                barcode_csv=barcode_csv))  # fmt: skip


@qc_group.command("gate")
@click.option("--workspace", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--stage", type=click.Choice(["before_analysis", "before_profiles"]), required=True)
@click.option("--parameters", default="{}", show_default=True, help="QCParameters as JSON (thresholds, gates, override).")
def gate_command(workspace: Path, stage: str, parameters: str) -> None:
    """Stop the run here when a gated figure fails its threshold and is not overridden."""
    from starrynight import naming
    from starrynight.cli_errors import user_errors
    from starrynight.modules.profiles.cli import parse_parameters
    from starrynight.qc.figures import QCParameters
    from starrynight.qc.gate import check_gate

    params = parse_parameters(QCParameters, parameters, "qc")
    with user_errors():
        verdict = check_gate(workspace, stage, params, naming.qc_gate_verdict(workspace, stage),
                             naming.qc_gate_passed(workspace, stage))  # fmt: skip
    for row in verdict["figures"]:
        note = " (failed, overridden)" if row["overridden"] else ""
        click.echo(f"QC gate {stage}: {row['figure']} = {row['value']} {row['status']}{note}")
