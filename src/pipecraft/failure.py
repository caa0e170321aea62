"""What failed, read from a failed run's Snakemake log: for commands that run after a failed
run (`Command(on_failure=True)`), which find that log in `$PIPECRAFT_FAILED_RUN_LOG`."""

from __future__ import annotations

import os
from pathlib import Path

from pipecraft.compile import FAILED_RUN_LOG


def failed_run_log() -> Path | None:
    """The failed run's Snakemake log when this process runs after a failed run, else None."""
    value = os.environ.get(FAILED_RUN_LOG)
    return Path(value) if value else None


def failed_jobs_in_log(text: str) -> list[tuple[str, str | None, str | None]]:
    """(rule, unit, log) of every job Snakemake reported as failed, in order, once each. An
    error block names the job's id; its unit comes from the block that started the job."""
    from pipecraft.backend import ERROR, FIELD, JOB_START

    started: dict[str, str | None] = {}  # jobid -> unit
    failed: list[dict[str, str | None]] = []
    block: dict[str, str | None] | None = None
    for line in text.splitlines():
        if m := JOB_START.match(line):
            block = {"rule": m.group(1), "error": None}
        elif m := ERROR.match(line):
            block = {"rule": m.group(1), "error": "yes", "unit": None, "log": None}
            failed.append(block)
        elif block is not None and (m := FIELD.match(line)):
            key, value = m.groups()
            block[key] = value.split(" (check log", 1)[0].strip()
            if key == "wildcards" and block.get("jobid") is not None:
                fields = dict(kv.split("=", 1) for kv in value.split(", ") if "=" in kv)
                started[str(block["jobid"])] = fields.get("unit")
        elif line and not line[0].isspace():
            block = None
    jobs = ((str(f["rule"]), started.get(str(f.get("jobid"))), f.get("log")) for f in failed)
    return list(dict.fromkeys(jobs))
