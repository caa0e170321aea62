"""QC gates: stop a run after a step whose figures fail their thresholds.

A gate sits between two stages of the screen (before analysis: the SBS figures; before
profiles: the cell figures) and checks the gated figures that are measured by then. A figure
below its fail threshold stops the run there, unless the user lists it in `qc.override`; the
verdict (figure, value, threshold, overridden or not) is written either way, so the report can
say why the run stopped. After an override, re-running the screen goes on from the gate.
"""

from __future__ import annotations

import json
from pathlib import Path

from starrynight.config import write_text_atomic
from starrynight.qc.figures import QCParameters, headline, judge

#: gate position -> the headline figures measured by then
STAGES: dict[str, tuple[str, ...]] = {
    "before_analysis": ("alignment_score", "perfect_match_share"),
    "before_profiles": ("cells_per_well", "matched_share", "library_coverage"),
}


class GateFailed(RuntimeError):
    """A gated figure failed its threshold and was not overridden."""


def gated(params: QCParameters, stage: str) -> list[str]:
    """The figures `params` gate at `stage`."""
    return [f for f in STAGES[stage] if f in params.gates]


def check_gate(
    workspace: Path, stage: str, params: QCParameters, verdict_path: Path, passed_path: Path
) -> dict:
    """Judge the gated figures of `stage`; write the verdict, and `passed_path` only when the run may go on."""
    values = headline(workspace)
    rows = []
    for name, value, threshold, status in judge(values, params):
        if name in gated(params, stage):
            rows.append({"figure": name, "value": value, "fail_below": threshold.fail, "status": status,
                         "overridden": status == "fail" and name in params.override})  # fmt: skip
    stopped = [r for r in rows if r["status"] == "fail" and not r["overridden"]]
    verdict = {"stage": stage, "stopped": bool(stopped), "figures": rows}
    write_text_atomic(verdict_path, json.dumps(verdict, indent=2))
    if stopped:
        raise GateFailed(stop_message(verdict))
    write_text_atomic(passed_path, json.dumps(verdict, indent=2))
    return verdict


def stop_message(verdict: dict) -> str:
    """Why a gate stopped the run: figure, value, threshold, and how to go on."""
    return "; ".join(
        f"QC gate {verdict['stage']}: {r['figure']} = {_value(r['value'])} is below its fail threshold "
        f"{r['fail_below']:g} (qc.{r['figure']}.fail); to go on anyway add {r['figure']} to qc.override "
        "and run again"
        for r in verdict["figures"] if r["status"] == "fail" and not r["overridden"]
    )  # fmt: skip


def _value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def current_verdicts(workspace: Path, params: QCParameters) -> list[dict]:
    """The last verdict of every gate `params` sets, as `params` reads it now: a verdict file of
    a gate since dropped from `qc.gates` (its job no longer runs, so nothing rewrites it) is left
    out, so are figures no longer gated, and a failed figure since added to `qc.override` no
    longer stops the run."""
    from starrynight import naming

    out = []
    for stage in STAGES:
        figures = gated(params, stage)
        path = naming.qc_gate_verdict(workspace, stage)
        if not figures or not path.is_file():
            continue
        verdict = json.loads(path.read_text())
        rows = [{**r, "overridden": r["status"] == "fail" and r["figure"] in params.override}
                for r in verdict.get("figures", []) if r["figure"] in figures]  # fmt: skip
        stopped = any(r["status"] == "fail" and not r["overridden"] for r in rows)
        out.append({**verdict, "figures": rows, "stopped": stopped})
    return out


def stopped_gates(workspace: Path, params: QCParameters) -> list[dict]:
    """The current verdicts (`current_verdicts`) of the gates that stopped the last run."""
    return [v for v in current_verdicts(workspace, params) if v["stopped"]]
