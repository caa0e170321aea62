"""Provenance records: a job re-runs exactly when what it reads, or its command, changed.

Every job with outputs keeps a record beside its first output (`.<name>.provenance.json`):
the hash of its command and, for each file it read, its size, mtime and content digest.
The record is written last, atomically, after the command succeeded and every output
exists, so its presence means the job is complete. It lives beside the outputs, not in a
run folder, so it holds whatever run folder or notebook produced them.

A job is *fresh* when its record exists, names the same command, every output exists and
every input file has the recorded content. Content is compared by digest; a file whose
size and mtime equal the recorded ones is taken as unchanged without reading it, so a
file rewritten with identical bytes costs one read and triggers nothing.

Two places use this: before Snakemake starts, pipecraft drops the Snakemake stamp of every
job that is not fresh (`invalidate`), so Snakemake schedules it; and every job runs through
`run_job`, which re-checks freshness from the real inputs and skips the command when a
re-run upstream rewrote them with the same content. A run therefore converges: afterwards
every job is fresh, and the next run has nothing to do.

Inputs that are URLs cannot be fingerprinted here: a job reading one is never fresh.
Kept to the standard library: it starts once per job.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

RECORD_SUFFIX = ".provenance.json"
UP_TO_DATE = "pipecraft: up to date (inputs and command unchanged), command skipped"
#: recorded per input file: [size, mtime_ns, digest]
Fingerprint = list


def record_path(first_output: str) -> str:
    """Where the record of a job whose first output is `first_output` lives."""
    head, tail = os.path.split(os.path.normpath(first_output))
    return os.path.join(head, f".{tail}{RECORD_SUFFIX}")


def command_digest(command: str) -> str:
    return hashlib.sha256(command.encode("utf-8")).hexdigest()


def _files(path: str) -> Iterator[str]:
    """The files of an input: itself, or every file under it (records excluded), sorted.

    Symlinked folders are followed, as the job reading them does; a folder reached twice (a
    link loop) is walked once.
    """
    if not os.path.isdir(path):
        yield path
        return
    walked: set[tuple[int, int]] = set()
    for root, dirs, names in os.walk(path, followlinks=True):
        st = os.stat(root)
        if (st.st_dev, st.st_ino) in walked:
            dirs.clear()
            continue
        walked.add((st.st_dev, st.st_ino))
        dirs.sort()
        for name in sorted(names):
            if not name.endswith(RECORD_SUFFIX):
                yield os.path.join(root, name)


def _digest(path: str, st: os.stat_result) -> str:
    """The content digest of a regular file; what else a path is when it has no content to
    read (a FIFO would block the reader, a broken link has no target)."""
    if not stat.S_ISREG(st.st_mode):
        return f"not-a-file:{stat.S_IFMT(st.st_mode):o}"
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as err:  # unreadable: any change of size or time still shows
        return f"unreadable:{err.errno}:{st.st_size}:{st.st_mtime_ns}"


def fingerprint(inputs: list[str], known: dict[str, Fingerprint]) -> dict[str, Fingerprint] | None:
    """[size, mtime_ns, digest] of every input file; None if an input cannot be read (a URL,
    or a file that does not exist). Digests in `known` are reused where size and mtime match."""
    out: dict[str, Fingerprint] = {}
    for item in inputs:
        if "://" in item or not os.path.exists(item):
            return None
        if not os.path.isdir(item):
            out[item] = _fp(item, known)
            continue
        out[item + os.sep] = [0, 0, "dir"]  # an empty folder is an input too
        for path in _files(item):
            out[path] = _fp(path, known)
    return out


def _fp(path: str, known: dict[str, Fingerprint]) -> Fingerprint:
    try:
        st = os.stat(path)
    except OSError:  # a broken symlink or a link loop: what it points at is what it is
        return [0, 0, f"broken-link:{os.readlink(path) if os.path.islink(path) else ''}"]
    old = known.get(path)
    if old is not None and old[0] == st.st_size and old[1] == st.st_mtime_ns:
        return old
    return [st.st_size, st.st_mtime_ns, _digest(path, st)]


def _same_content(a: dict[str, Fingerprint], b: dict[str, Fingerprint]) -> bool:
    return a.keys() == b.keys() and all(a[k][2] == b[k][2] for k in a)


def read_record(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "inputs" in record else None


def _write_json_atomic(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"))
    os.replace(tmp, path)


def is_fresh(command: str, inputs: list[str], outputs: list[str]) -> bool:
    """Does the job's record say its outputs are what this command makes of these inputs?

    A record that is right but names old mtimes (a file rewritten with the same bytes) is
    refreshed, so the next check need not read the file again.
    """
    if not outputs or not all(os.path.exists(o) for o in outputs):
        return False
    path = record_path(outputs[0])
    record = read_record(path)
    if record is None or record.get("command") != command_digest(command):
        return False
    now = fingerprint(inputs, record["inputs"])
    if now is None or not _same_content(now, record["inputs"]):
        return False
    if now != record["inputs"]:
        _write_json_atomic(path, {**record, "inputs": now})
    return True


def _clear(path: str) -> None:
    p = Path(path)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()
    p.parent.mkdir(parents=True, exist_ok=True)


def run_job(command: str, inputs: list[str], outputs: list[str], run) -> int:
    """Run a job through its record: skip the command if fresh, else clear the outputs, run
    it (`run()` returns the exit code) and write the record once every output exists."""
    if is_fresh(command, inputs, outputs):
        print(UP_TO_DATE, flush=True)
        return 0
    record = record_path(outputs[0])
    old = read_record(record)
    Path(record).unlink(missing_ok=True)
    for out in outputs:
        _clear(out)
    before = fingerprint(inputs, old["inputs"] if old else {})
    rc = run()
    if rc != 0:
        for out in outputs:  # a failed job leaves nothing that looks like a result
            _clear(out)
        return rc
    missing = [o for o in outputs if not os.path.exists(o)]
    if missing:
        print(f"pipecraft: the command exited 0 but did not write {missing}", flush=True)
        return 1
    if before is not None:
        _write_json_atomic(record, {"command": command_digest(command), "inputs": before})
    return 0


def invalidate(jobs: list[tuple[str, str, str, list[str], list[str]]]) -> int:
    """Remove the Snakemake stamp of every job that is not fresh, and the completion marker
    of its node (Snakemake rebuilds a missing file only for a target that needs it); return
    how many stamps were removed.

    Each job is (stamp, node marker, command, inputs, outputs), all paths absolute.
    """
    dropped = 0
    for stamp, marker, command, inputs, outputs in jobs:
        if os.path.exists(stamp) and not is_fresh(command, inputs, outputs):
            os.unlink(stamp)
            Path(marker).unlink(missing_ok=True)
            dropped += 1
    return dropped


#: exit code of a job stopped at its runtime limit (as coreutils' `timeout` reports it)
TIMED_OUT = 124
GRACE_S = 10.0  # between SIGTERM and SIGKILL when a job runs past its limit


def wait_limited(
    proc: subprocess.Popen, limit_s: float | None, say: Callable[[str], object]
) -> tuple[int, Any]:
    """Wait for a job (exit code, resource usage); past `limit_s` seconds it is stopped
    (SIGTERM, then SIGKILL) and reported through `say`, so that no job hangs a run."""
    deadline = None if limit_s is None else time.monotonic() + limit_s
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG if deadline else 0)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    say(
        f"pipecraft: the job ran past its runtime limit of {limit_s / 60:g} min "
        "(resources.runtime_min) and was stopped"
    )
    proc.terminate()
    try:
        proc.wait(GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return TIMED_OUT, None


def main(argv: list[str]) -> int:
    """`python -m pipecraft.provenance SPECS OFFSET LENGTH -- ARGV...`: run ARGV as a job.

    The job's spec is the JSON line at that byte range of SPECS: {"c": the command as
    pipecraft shows it, "i": inputs, "o": outputs, optional "t": runtime limit in seconds}.
    ARGV inherits this environment.
    """
    path, offset, length, sep, *cmd = argv
    if sep != "--":
        raise SystemExit("usage: python -m pipecraft.provenance SPECS OFFSET LENGTH -- ARGV...")
    with open(path, "rb") as f:
        f.seek(int(offset))
        spec = json.loads(f.read(int(length)))

    def run() -> int:
        sys.stdout.flush()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        except OSError as err:
            print(f"pipecraft: cannot start {cmd[0]!r}: {err}", flush=True)
            return 127
        return wait_limited(proc, spec.get("t"), lambda line: print(line, flush=True))[0]

    return run_job(spec["c"], spec["i"], spec["o"], run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
