"""QC gate verdicts as the current parameters read them, and the report a failed run gets
whichever way it was started (run_screen, or a notebook's `backend.run`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pipecraft as pc
from starrynight import naming
from starrynight.qc.figures import QCParameters
from starrynight.qc.gate import GateFailed, check_gate, current_verdicts, stopped_gates
from starrynight.qc.report import build_report, failure_from_log
from starrynight.qc.tests.test_report import _fake_run

STRICT = {"alignment_score": {"warn": 0.99, "fail": 0.99}}  # the fake run's scores are 0.94-0.99


def _stop(ws: Path, params: QCParameters) -> None:
    stage = "before_analysis"
    with pytest.raises(GateFailed, match="alignment_score"):
        check_gate(
            ws, stage, params, naming.qc_gate_verdict(ws, stage), naming.qc_gate_passed(ws, stage)
        )


def test_a_verdict_of_a_gate_since_overridden_or_dropped_no_longer_stops_the_run(
    tmp_path: Path,
) -> None:
    _fake_run(tmp_path)
    gated = QCParameters(**STRICT, gates=["alignment_score"])
    _stop(tmp_path, gated)
    assert [v["stage"] for v in stopped_gates(tmp_path, gated)] == ["before_analysis"]
    assert not naming.qc_gate_passed(tmp_path, "before_analysis").exists()

    overridden = gated.model_copy(update={"override": ["alignment_score"]})
    assert stopped_gates(tmp_path, overridden) == []
    (row,) = current_verdicts(tmp_path, overridden)[0]["figures"]
    assert row["overridden"] and row["status"] == "fail"
    page = build_report(tmp_path, params=overridden).read_text()
    assert "QC gates:" in page and "<td>True</td><td>False</td>" in page  # overridden, not stopping

    dropped = QCParameters(**STRICT)  # the gate removed from qc.gates: its old file is not read
    assert current_verdicts(tmp_path, dropped) == [] and stopped_gates(tmp_path, dropped) == []
    assert "QC gates:" not in build_report(tmp_path, params=dropped).read_text()


SNAKEMAKE_LOG = """\
[Thu Dec  3 08:37:36 2026]
rule cp_illum_calc_invoke:
    output: .pipecraft/stamps/cp_illum_calc_invoke/Plate1
    log: logs/cp_illum_calc_invoke/Plate1.log
    jobid: 7
    wildcards: unit=Plate1
    resources: tmpdir=/tmp
[Thu Dec  3 08:37:40 2026]
Error in rule cp_illum_calc_invoke:
    message: None
    jobid: 7
    output: .pipecraft/stamps/cp_illum_calc_invoke/Plate1
    log: logs/cp_illum_calc_invoke/Plate1.log (check log file(s) for error details)
    shell:
        ( false ) > logs/cp_illum_calc_invoke/Plate1.log 2>&1
        (command exited with non-zero exit code)
Error in rule qc_gate_before_analysis:
    jobid: 9
    log: logs/qc_gate_before_analysis/qc_gate_before_analysis.log (check log file(s) for error details)
"""


def test_the_failure_text_names_the_stopping_gate_and_every_failed_job_with_its_log(
    tmp_path: Path,
) -> None:
    _fake_run(tmp_path)
    params = QCParameters(**STRICT, gates=["alignment_score"])
    _stop(tmp_path, params)
    log = tmp_path / "runs" / "pcp" / ".snakemake" / "log" / "x.snakemake.log"
    log.parent.mkdir(parents=True)
    log.write_text(SNAKEMAKE_LOG)
    run = tmp_path / "runs" / "pcp"
    job_log = run / "logs" / "cp_illum_calc_invoke" / "Plate1.log"
    job_log.parent.mkdir(parents=True)
    job_log.write_text(
        "Times reported are CPU and Wall-clock times\nError: Plate1 site 3 has no DAPI\n"
    )
    text = failure_from_log(tmp_path, log, params)
    assert text.splitlines() == [
        text.splitlines()[0],
        f"pipecraft run in {run} failed: 2 failed job(s); Snakemake log: {log}",
        f"  rule cp_illum_calc_invoke, unit Plate1: Plate1 site 3 has no DAPI (log: {job_log})",
        f"  rule qc_gate_before_analysis (log: {run}/logs/qc_gate_before_analysis/qc_gate_before_analysis.log)",
    ]
    assert text.startswith("QC gate before_analysis: alignment_score = 0.965 is below its fail")


def test_a_failed_notebook_run_gets_its_report_from_the_pipeline_itself(tiny_workspace) -> None:
    """`backend.run` of a pipeline ending in the report module, whose earlier job fails: the
    report job runs in the failure handler (real Snakemake, the real `starrynight qc report`)."""
    from starrynight.qc.module import QCReportModule

    data_config, experiment, _ = tiny_workspace
    report = QCReportModule(data_config, experiment, QCParameters())
    cells = naming.analysis.cell_table(Path(data_config.workspace_path))
    broken = pc.Command(name="analysis_like", argv=["python", "-c", "raise SystemExit('broken on purpose')"],
                        outputs={"cells": [str(cells)]})  # fmt: skip
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=1))
    with pytest.raises(pc.RunFailedError):
        backend.run(
            pc.Seq([broken, report.pipeline]), working_dir=Path(data_config.scratch_path) / "run"
        )
    page = naming.qc_report(Path(data_config.workspace_path)).read_text()
    assert page.index("Run failed") < page.index("Headline figures")
    assert "rule analysis_like: broken on purpose (log: " in page and "analysis_like.log" in page
    failed = json.loads((Path(data_config.scratch_path) / "run" / "run_summary.json").read_text())
    assert {j["rule"]: j["status"] for j in failed["jobs"]}["qc_report"] == "not_run"
