"""The Snakemake backend: compile a pipeline, run Snakemake as a subprocess, watch it.

Snakemake runs in its own process group in the working directory, writing to a run log
that a watcher thread follows for progress, echoed commands and failures.

One run per working directory: `.pipecraft/run.lock` is held with an exclusive flock() by
the pipecraft process for the whole run and inherited by Snakemake, so the kernel releases
it only when both are gone; compile and dry_run hold it while they write. The file also
records the Snakemake pid, its create time and the start time, for the error message and
for clearing up after a run that died: its leftover jobs are killed only if they are
verifiably that run's (see `_kill_leftovers`), and Snakemake's own lock is removed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

import psutil
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipecraft.compile import (
    DONE_DIR,
    WRAPPER,
    Plan,
    batch_log,
    job_log,
    plan,
    snakemake_log,
    write_atomic,
    write_workflow,
)
from pipecraft.errors import PipecraftError, RunFailedError, RunInterruptedError, RunLockedError
from pipecraft.graph import Pipeline
from pipecraft.profile import (
    check_resource_names,
    profile_file,
    read_profile,
    resource_settings,
)
from pipecraft.provenance import UP_TO_DATE, invalidate

LOCK = ".pipecraft/run.lock"
SUMMARY = "run_summary.json"


class SnakemakeBackendConfig(BaseModel):
    """How pipelines are compiled and run. Every field is a plain setting."""

    model_config = ConfigDict(extra="forbid")

    use_opentelemetry: bool = False
    print_exec: bool = False
    progress: bool = Field(
        True,
        description="while run(wait=True) blocks, print 'jobs "
        "done/total (failed N)' to stderr when it changes (at most 1/s)",
    )
    cores: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    keep_going: bool = True
    retries: int = Field(0, ge=0)
    scheduler: Literal["auto", "ilp", "greedy"] = "auto"
    greedy_above_jobs: int = Field(100, ge=0, description="auto picks greedy above this many jobs")
    container_runtime: Literal["none", "apptainer", "docker"] = "none"
    executor: str = "local"
    executor_settings: dict[str, Any] = Field(default_factory=dict)
    default_resources: dict[str, Any] = Field(default_factory=dict)
    extra_args: list[str] = Field(default_factory=list)
    software_versions: dict[str, str] = Field(
        default_factory=dict,
        description="versions of the caller's own software, recorded in the run summary beside "
        "Snakemake's and the executor plugin's",
    )
    otlp_endpoint: str | None = None
    max_jobs_per_fanout: int = Field(
        5_000, ge=1, description="larger fan-outs are packed into batches"
    )
    units_per_job: int = Field(
        1,
        ge=1,
        description="fan-out units bundled into one Snakemake job (one cluster "
        "submission), run one after another; a node's own batch_size wins",
    )
    profile: Path | None = Field(
        None,
        description="a Snakemake profile folder (config.yaml inside), passed as --profile; "
        "a setting given here explicitly wins over the profile's, a default yields to it",
    )
    latency_wait: int = Field(5, ge=0)

    @field_validator("executor")
    @classmethod
    def _executor(cls, value: str) -> str:
        check_executor(value)
        return value

    @field_validator("default_resources")
    @classmethod
    def _resource_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_resource_names(value)
        return value

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: Path | None) -> Path | None:
        """An absolute folder holding a profile file: Snakemake runs in another directory."""
        if value is None:
            return None
        settings = read_profile(value)  # a profile Snakemake cannot read fails here, not mid-run
        file = str(profile_file(value))
        if "executor" in settings:
            check_executor(str(settings["executor"]), f"{file}: executor")
        check_resource_names(resource_settings(settings.get("default-resources", {}), file),
                             f"{file}: default-resources")  # fmt: skip
        return profile_file(value).parent.resolve()


class FailedJob(NamedTuple):
    rule: str
    unit: str | None
    log: Path


class DryRunResult(NamedTuple):
    """Jobs Snakemake would run, per rule (marker rules excluded), and its full output."""

    jobs: dict[str, int]
    total: int
    output: str


def _dir(working_dir: str | Path | None) -> Path:
    if working_dir is None:
        raise PipecraftError("working_dir is required")
    path = Path(working_dir).expanduser().resolve()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        if existing == path:
            raise PipecraftError(f"working_dir {path} is a file, not a folder")
        raise PipecraftError(f"working_dir {path} cannot be made: {existing} is a file")
    return path


class SnakemakeBackend:
    """Compile pipelines to a Snakefile and run them with Snakemake."""

    def __init__(self, config: SnakemakeBackendConfig | None = None) -> None:
        self.config = config or SnakemakeBackendConfig()

    def _cfg(self, config: SnakemakeBackendConfig | None) -> SnakemakeBackendConfig:
        return config or self.config

    def _plan(self, pipeline: Pipeline, cfg: SnakemakeBackendConfig, wd: Path) -> Plan:
        return plan(pipeline, wd, cfg.container_runtime, cfg.max_jobs_per_fanout, cfg.units_per_job)

    def compile(
        self,
        pipeline: Pipeline,
        config: SnakemakeBackendConfig | None = None,
        working_dir: str | Path | None = None,
    ) -> Path:
        """Write the Snakefile and job tables into working_dir; return the Snakefile path."""
        cfg, wd = self._cfg(config), _dir(working_dir)
        p = self._plan(pipeline, cfg, wd)
        with RunLock(wd, "compile"):
            return write_workflow(p, wd, cfg.container_runtime)

    def snakemake_args(self, cfg: SnakemakeBackendConfig, n_jobs: int) -> list[str]:
        """The Snakemake command line pipecraft uses (after `python -m snakemake`).

        With a profile, Snakemake takes each setting from the command line first, then from
        the profile. So a setting the config was given explicitly is passed and wins; one
        left at its default is not passed when the profile makes it, and the profile's
        applies. default_resources are merged name by name, the config's winning.
        """
        profile = read_profile(cfg.profile) if cfg.profile else {}
        given = cfg.model_fields_set

        def ours(field: str, *keys: str) -> bool:
            return field in given or not any(k in profile for k in keys)

        # A job's freshness is its provenance record's (see pipecraft.provenance); Snakemake
        # orders jobs and re-runs those whose stamp is missing or older than an input stamp.
        args = [
            "--snakefile",
            "Snakefile",
            "--rerun-incomplete",
            "--rerun-triggers",
            "mtime",
            "--nocolor",
        ]
        if cfg.profile:
            args += ["--profile", str(cfg.profile)]
        if ours("cores", "cores"):
            args += ["--cores", str(cfg.cores)]
        if ours("scheduler", "scheduler"):
            scheduler = cfg.scheduler
            if scheduler == "auto":
                scheduler = "greedy" if n_jobs > cfg.greedy_above_jobs else "ilp"
            args += ["--scheduler", scheduler]
        if ours("latency_wait", "latency-wait", "output-wait"):
            args += ["--latency-wait", str(cfg.latency_wait)]
        if cfg.keep_going and ours("keep_going", "keep-going"):
            args.append("--keep-going")
        if (cfg.retries or "retries" in given) and ours("retries", "retries", "restart-times"):
            args += ["--retries", str(cfg.retries)]
        if cfg.print_exec:
            args.append("--printshellcmds")
        if cfg.container_runtime == "apptainer":
            args += ["--software-deployment-method", "apptainer"]
        executor = effective_executor(cfg)
        if executor != "local":
            if ours("executor", "executor"):
                args += ["--executor", executor]
            if ours("cores", "jobs"):
                args += ["--jobs", str(cfg.cores)]
            for key, value in cfg.executor_settings.items():
                flag = f"--{executor}-{key.replace('_', '-')}"
                args += [flag] if value is True else [flag, str(value)]
        if cfg.default_resources:
            resources = {**resource_settings(profile.get("default-resources", {}), str(cfg.profile)),
                         **{k: str(v) for k, v in cfg.default_resources.items()}}  # fmt: skip
            args += ["--default-resources", *[f"{k}={v}" for k, v in resources.items()]]
        return args + list(cfg.extra_args)

    def dry_run(
        self,
        pipeline: Pipeline,
        config: SnakemakeBackendConfig | None = None,
        working_dir: str | Path | None = None,
    ) -> DryRunResult:
        """Compile, then ask Snakemake what it would run (nothing is executed)."""
        cfg, wd = self._cfg(config), _dir(working_dir)
        p = self._plan(pipeline, cfg, wd)
        with RunLock(wd, "dry run"):
            write_workflow(p, wd, cfg.container_runtime)
            _invalidate(p, wd)
            args = self.snakemake_args(cfg, len(p.jobs)) + ["--dry-run", "--quiet", "all"]
            proc = subprocess.run(
                [sys.executable, "-m", "snakemake", *args],
                cwd=wd,
                capture_output=True,
                text=True,
                env=_job_env(),
            )
        out = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise PipecraftError(f"Snakemake dry run failed in {wd}:\n{_tail(out)}")
        jobs = {
            m.group(1): int(m.group(2))
            for m in re.finditer(r"^(\w+)\s+(\d+)$", out, re.M)
            if not m.group(1).endswith("__done") and m.group(1) not in ("all", "total")
        }
        return DryRunResult(jobs=jobs, total=sum(jobs.values()), output=out)

    def run(
        self,
        pipeline: Pipeline,
        config: SnakemakeBackendConfig | None = None,
        working_dir: str | Path | None = None,
        wait: bool = True,
        check: bool = True,
    ) -> RunHandle:
        """Compile and start Snakemake; with wait=True block until it ends.

        With check=True a run that ends with failures raises RunFailedError listing them.
        """
        cfg, wd = self._cfg(config), _dir(working_dir)
        wd.mkdir(parents=True, exist_ok=True)
        p = self._plan(pipeline, cfg, wd)
        lock = RunLock(wd, "run")
        try:
            lock.clear_stale()
            write_workflow(p, wd, cfg.container_runtime)
            _invalidate(p, wd)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            run_log = wd / snakemake_log(stamp)
            run_log.parent.mkdir(parents=True, exist_ok=True)
            args = self.snakemake_args(cfg, len(p.jobs))
            with open(run_log, "wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "snakemake", *args],
                    cwd=wd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=_job_env(),
                    start_new_session=True,
                    pass_fds=(lock.fd,),
                )
            lock.record_snakemake(proc.pid)
        except BaseException:
            lock.release()
            raise
        handle = RunHandle(p, wd, run_log, proc, cfg, lock)
        if wait:
            with _stopped_by_signals(handle):
                if cfg.progress:
                    handle._wait_reporting_progress()
                else:
                    handle.wait()
            if check and handle.status != "succeeded":
                error = RunInterruptedError if handle.status == "interrupted" else RunFailedError
                raise error(handle.failure_message(), handle)
        return handle


@contextmanager
def _stopped_by_signals(handle: RunHandle) -> Iterator[None]:
    """While a run is waited on, Ctrl-C (SIGINT) or SIGTERM stops Snakemake and every job it
    started before returning, instead of leaving them running in their own process group.

    Python delivers signals to the main thread only; elsewhere (a notebook's worker thread)
    the waiting is left as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        try:
            handle.terminate()
            handle.wait()
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _job_env() -> dict[str, str]:
    env = dict(os.environ)
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


#: a log line that states an error: `Error: ...`, `snakemake: error: ...`, `ValueError: ...`
_ERROR_LINE = re.compile(r"^(?:Error:|\S*: error:|[A-Za-z_.]*(?:Error|Exception)\b:?)")


def error_line(log: Path) -> str | None:
    """What went wrong, as the log says it in one line: its last error line (`Error: x` as
    `x`), else its last line; None for a missing or empty log."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    except OSError:
        return None
    lines = [line for line in lines if line]
    errors = [line for line in lines if _ERROR_LINE.match(line)]
    found = (errors or lines or [None])[-1]
    return found.removeprefix("Error: ") if found else None


def _invalidate(p: Plan, wd: Path) -> None:
    """Drop the Snakemake stamp of every job whose provenance record is not up to date (its
    command or input content changed, an output is missing), so Snakemake runs it."""
    invalidate(
        [
            (str(wd / j.stamp), str(wd / DONE_DIR / j.rule), j.command, j.inputs, j.abs_outputs)
            for j in p.jobs
            if j.abs_outputs
        ]
    )


# ---- lock -------------------------------------------------------------------------------


def _alive(info: dict) -> bool:
    """Is the Snakemake recorded in a lock file still running (same pid AND create time)?"""
    try:
        proc = psutil.Process(int(info["pid"]))
        return (
            abs(proc.create_time() - float(info["created"])) < 1.0
            and proc.status() != psutil.STATUS_ZOMBIE
        )
    except (psutil.Error, KeyError, ValueError, TypeError):
        return False


def _lock_info(wd: Path) -> dict:
    try:
        info = json.loads((wd / LOCK).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _locked_message(wd: Path, info: dict) -> str:
    if info.get("pid"):
        who = f"Snakemake pid {info.get('pid')}, started {info.get('started')}"
    elif info.get("owner"):
        who = (
            f"pipecraft pid {info.get('owner')} ({info.get('what', 'run')}), "
            f"started {info.get('started')}"
        )
    else:
        who = "lock held, just starting"
    return (
        f"working directory {wd} is in use by another pipecraft run ({who}); wait for it "
        "to finish or terminate it, then run again"
    )


class RunLock:
    """An exclusive flock() on `.pipecraft/run.lock`; RunLockedError if another holds it.

    The kernel drops a flock when the last descriptor of its open file goes away, so a held
    lock is never stale and there is no read-then-delete race. The file is never deleted
    (a new inode would be a second lock); its JSON content says who holds it.
    """

    def __init__(self, wd: Path, what: str) -> None:
        path = wd / LOCK
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLockedError(_locked_message(wd, _lock_info(wd))) from None
        except BaseException:
            os.close(fd)
            raise
        self.wd, self.fd, self.what = wd, fd, what
        self.previous = self._read()
        self.info: dict = {}
        self._write({"owner": os.getpid(), "what": what, "started": datetime.now(UTC).isoformat()})

    def _read(self) -> dict:
        try:
            data = os.pread(self.fd, 1 << 16, 0)
            info = json.loads(data) if data.strip() else {}
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}

    def _write(self, info: dict) -> None:
        self.info = info
        data = json.dumps(info).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def clear_stale(self) -> None:
        """Clear up after the run recorded in the file, if it died without releasing it."""
        info = self.previous
        if not isinstance(info.get("pid"), int):
            return
        if _alive(info):  # Snakemake runs although no one holds the lock: do not touch it
            self.release(restore=True)
            raise RunLockedError(_locked_message(self.wd, info))
        if isinstance(info.get("created"), int | float):
            _kill_leftovers(info["pid"], float(info["created"]))
        _unlock_snakemake(self.wd)
        self.previous = {}

    def record_snakemake(self, pid: int) -> None:
        self._write(
            {**self.info, "pid": pid, "pgid": pid, "created": psutil.Process(pid).create_time()}
        )

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self, restore: bool | None = None) -> None:
        """Unlock. A compile or dry run (or a run that did not start) puts back what the
        file said before, so a dead run's record stays for the next run to clear up."""
        if self.fd < 0:
            return
        if restore is None:
            restore = self.what != "run"
        try:
            if restore and self.previous:
                self._write(self.previous)
            else:
                os.ftruncate(self.fd, 0)
        finally:
            os.close(self.fd)
            self.fd = -1


def _unlock_snakemake(wd: Path) -> None:
    for f in (wd / ".snakemake" / "locks").glob("*"):
        f.unlink(missing_ok=True)


def _kill_leftovers(pgid: int, created: float) -> None:
    """Kill the jobs a dead Snakemake (process group leader `pgid`, started at `created`)
    left in its process group, and nothing else.

    If a live process has that pid with another create time, the pid was reused, which the
    kernel does only once the old group is empty: nothing is signalled. Otherwise each
    member of the group must also have started no earlier than that Snakemake did, and is
    killed through psutil, which re-checks the process's identity before signalling.
    """
    try:
        leader = psutil.Process(pgid)
        if abs(leader.create_time() - created) >= 1.0 or leader.status() != psutil.STATUS_ZOMBIE:
            return
    except psutil.NoSuchProcess:
        pass
    except psutil.Error:
        return
    for proc in psutil.process_iter():
        try:
            if (
                proc.pid != pgid
                and os.getpgid(proc.pid) == pgid
                and proc.create_time() >= created - 0.5
            ):
                proc.kill()
        except (psutil.Error, OSError):
            continue


# ---- run handle -------------------------------------------------------------------------

JOB_START = re.compile(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):\s*$")
FIELD = re.compile(r"^\s+(jobid|wildcards|log): (.*)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")
STEPS = re.compile(r"^(\d+) of (\d+) steps")
ERROR = re.compile(r"^Error in rule (\w+):")
TOTAL = re.compile(r"^total\s+(\d+)\s*$")
JOB_STATS = "Job stats:"
STATS_ROW = re.compile(r"^(\w+)\s+(\d+)\s*$")
SHELL = re.compile(r"^Shell command: (.*)$")
# an executor plugin's submission line, e.g. SLURM's
SUBMITTED = re.compile(r"^Job (\d+) has been submitted with (\w+) jobid (\S+) \(log: (.*)\)\.?\s*$")


class RunHandle:
    """A running (or finished) Snakemake run in a working directory."""

    def __init__(
        self,
        plan_: Plan,
        working_dir: Path,
        run_log: Path,
        proc: subprocess.Popen,
        config: SnakemakeBackendConfig,
        lock: RunLock | None = None,
    ) -> None:
        self.plan = plan_
        self.working_dir = working_dir
        self.run_log = run_log
        self.summary_path = working_dir / SUMMARY
        self._proc = proc
        self._cfg = config
        self._lock = lock
        self._status = "running"
        self._done = 0
        self._total: int | None = None
        self._jobs: dict[int, tuple[str, str | None]] = {}
        self._planned: dict[str, int] = {}  # rule -> jobs Snakemake planned to run ("Job stats")
        self._finished: set[int] = set()
        self._submitted: dict[int, dict[str, str]] = {}  # jobid -> executor job id and log
        self._errors: set[int] = set()
        self._terminated = False
        self._started = time.time()
        self._summary: dict | None = None
        self._batched = {rp.node.name for rp in plan_.rules if rp.batches}
        # An Event, not Thread.join(): a join cut by Ctrl-C can leave the thread looking ended.
        self._ended = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    # -- public --
    @property
    def status(self) -> str:
        """running, succeeded, failed or interrupted (stopped by terminate() or a signal)."""
        return self._status

    @property
    def progress(self) -> tuple[int, int]:
        """(done, total) Snakemake jobs, marker jobs included; total 0 until known."""
        return self._done, self._total or 0

    @property
    def pid(self) -> int:
        return self._proc.pid

    def wait(self, timeout: float | None = None) -> str:
        """Block until the run ends (or timeout seconds pass); return the status."""
        self._ended.wait(timeout)
        return self._status

    def terminate(self) -> None:
        """Stop Snakemake and its jobs: SIGTERM to the run's process group, SIGKILL to what is
        left of it after 8 s; jobs that outlive Snakemake are killed when the run ends, which
        then has status 'interrupted'."""
        self._terminated = True
        try:
            os.killpg(self._proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self._proc.wait(8)
        except subprocess.TimeoutExpired:  # not reaped yet, so the group id is still ours
            os.killpg(self._proc.pid, signal.SIGKILL)

    def failed_jobs(self) -> list[FailedJob]:
        """Failed units so far: (rule, unit, log path); unit is None for commands."""
        if self._summary is not None:
            return [
                FailedJob(j["rule"], j["unit"], self.working_dir / j["log"])
                for j in self._summary["jobs"]
                if j["status"] == "failed"
            ]
        out = []
        for jid in sorted(self._errors):
            rule, unit = self._jobs.get(jid, ("?", None))
            out.extend(self._unit_failures(rule, unit))
        return out

    def summary(self) -> dict | None:
        """The run summary (also in run_summary.json) once the run has ended."""
        return self._summary

    def failure_message(self) -> str:
        if self._status == "interrupted":
            return (
                f"pipecraft run in {self.working_dir} interrupted: Snakemake and its jobs "
                f"were stopped; finished units are kept and the next run resumes. "
                f"Summary: {self.summary_path}"
            )
        failed = self.failed_jobs()
        lines = [
            f"pipecraft run in {self.working_dir} {self._status}: "
            f"{len(failed)} failed job(s); Snakemake log: {self.run_log}"
        ]
        for f in failed[:20]:
            said = error_line(f.log)
            lines.append(
                f"  rule {f.rule}" + (f", unit {f.unit}" if f.unit else "")
                + (f": {said}" if said else "") + f" (log: {f.log})"
            )  # fmt: skip
        if len(failed) > 20:
            lines.append(f"  ... and {len(failed) - 20} more (see {self.summary_path})")
        if not failed:
            said = error_line(self.run_log)
            lines.append(f"  Snakemake: {said}" if said else f"  see {self.run_log}")
        return "\n".join(lines)

    def first_error(self) -> str:
        """One line for the first failed job (or, when no job ran, Snakemake itself): what
        its log says went wrong, and where that log is."""
        for job in self.failed_jobs():
            said = error_line(job.log)
            if said:
                return f"{said} (log: {job.log})"
        said = error_line(self.run_log)
        return f"{said} (log: {self.run_log})" if said else f"see {self.run_log}"

    # -- internals --
    def _wait_reporting_progress(self, interval: float = 1.0) -> str:
        """wait(), printing `pipecraft: jobs done/total (failed N)` to stderr whenever it
        changes, at most once per `interval` seconds, and once more at the end. On a terminal
        the line is rewritten in place."""
        stream = sys.stderr
        tty = stream.isatty()
        shown, shown_at = None, 0.0
        while True:
            ended = self._ended.wait(0.2)
            done, total = self.progress
            line = f"pipecraft: jobs {done}/{total} (failed {len(self._errors)})"
            now = time.monotonic()
            if line != shown and (ended or (total and now - shown_at >= interval)):
                stream.write(f"\r{line}\x1b[K" if tty else line + "\n")
                stream.flush()
                shown, shown_at = line, now
            if ended:
                if tty and shown is not None:
                    stream.write("\n")
                    stream.flush()
                return self._status

    def _unit_failures(self, rule: str, unit: str | None) -> list[FailedJob]:
        """Expand a failed batch job into its failed units (from the batch log)."""
        if rule in self._batched:
            log = self.working_dir / batch_log(rule, unit)
            res = []
            if log.exists():
                for line in log.read_text(errors="replace").splitlines():
                    parts = line.split("\t")
                    if len(parts) >= 3 and parts[0] == "pipecraft-unit" and parts[2] == "failed":
                        res.append(
                            FailedJob(rule, parts[1], self.working_dir / job_log(rule, parts[1]))
                        )
            return res or [FailedJob(rule, unit, log)]
        return [FailedJob(rule, unit, self.working_dir / job_log(rule, unit))]

    def _watch(self) -> None:
        pos = 0
        state: dict[str, Any] = {"rule": None, "in_error": False}
        buf = b""
        while True:
            ended = self._proc.poll() is not None
            with open(self.run_log, "rb") as f:
                f.seek(pos)
                chunk = f.read()
            pos += len(chunk)
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                self._parse(raw.decode("utf-8", errors="replace"), state)
            if ended:
                break
            time.sleep(0.2)
        try:
            self._finish()
        finally:
            self._ended.set()

    def _parse(self, line: str, state: dict[str, Any]) -> None:
        if line.startswith(JOB_STATS):
            state["in_stats"] = not self._planned  # the first table is the run's plan
        elif state.get("in_stats") and (m := STATS_ROW.match(line)):
            if m.group(1) == "total":
                state["in_stats"] = False
            else:
                self._planned[m.group(1)] = int(m.group(2))
        if m := JOB_START.match(line):
            state.update(rule=m.group(1), in_error=False, jobid=None)
        elif m := ERROR.match(line):
            state.update(rule=m.group(1), in_error=True, jobid=None)
        elif m := FIELD.match(line):
            key, value = m.groups()
            if key == "jobid":
                jid = int(value.strip())
                state["jobid"] = jid
                if state["in_error"]:
                    self._errors.add(jid)
                else:
                    self._jobs.setdefault(jid, (state["rule"], None))
            elif key == "wildcards" and state.get("jobid") is not None:
                unit = dict(kv.split("=", 1) for kv in value.split(", ") if "=" in kv).get("unit")
                self._jobs[state["jobid"]] = (state["rule"], unit)
        elif m := FINISHED.match(line):
            self._finished.add(int(m.group(1)))
            self._errors.discard(int(m.group(1)))  # an attempt failed, a retry succeeded
        elif m := SUBMITTED.match(line):
            self._submitted[int(m.group(1))] = {"system": m.group(2).lower(), "id": m.group(3),
                                                 "log": m.group(4)}  # fmt: skip
        elif m := STEPS.match(line):
            self._done, self._total = int(m.group(1)), int(m.group(2))
            if self._cfg.print_exec:
                print(line, flush=True)
        elif m := TOTAL.match(line):
            if self._total is None:
                self._total = int(m.group(1))
        elif self._cfg.print_exec and (m := SHELL.match(line)):
            rule = state.get("rule")
            if rule and rule != "all" and not rule.endswith("__done"):
                unit = self._jobs.get(state.get("jobid"), (rule, None))[1]
                shown = WRAPPER.sub("", m.group(1), count=1)
                print(f"[{rule}{'/' + unit if unit else ''}] {shown}", flush=True)
        if self._cfg.print_exec and line.startswith("Error in rule"):
            print(line, flush=True)

    def _finish(self) -> None:
        rc = self._proc.returncode
        if self._terminated or (rc is not None and rc < 0):  # clear what Snakemake left behind
            created = self._lock.info.get("created") if self._lock else None
            if isinstance(created, float):
                _kill_leftovers(self._proc.pid, created)
            _unlock_snakemake(self.working_dir)
        if self._terminated or (rc is not None and rc < 0):
            self._status = "interrupted"
        else:
            self._status = "succeeded" if rc == 0 and not self._errors else "failed"
        try:
            self._summary = build_summary(self)
            write_atomic(self.summary_path, json.dumps(self._summary, indent=1, ensure_ascii=False))
            if self._cfg.use_opentelemetry:
                from pipecraft.telemetry import export_spans

                export_spans(self._summary, self.working_dir, self._cfg.otlp_endpoint)
        finally:
            if self._lock is not None:
                self._lock.release()


def _bench(path: Path) -> tuple[float | None, float | None, float | None]:
    """(seconds, peak RSS MB, end time) from a Snakemake benchmark TSV, if present."""
    try:
        with open(path) as f:
            f.readline()
            cols = f.readline().split("\t")
        end = path.stat().st_mtime
        rss = None if cols[2] in ("-", "NA") else float(cols[2])
        return float(cols[0]), rss, end
    except (OSError, ValueError, IndexError):
        return None, None, None


def build_summary(h: RunHandle) -> dict:
    """Every job of the plan with status, wall time and peak memory."""
    wd = h.working_dir
    started = {(rule, unit): jid for jid, (rule, unit) in h._jobs.items()}
    started_per_rule = Counter(rule for rule, _ in h._jobs.values())
    # A rule with planned jobs that never started (the run stopped first): its unstarted units
    # may be outdated even where outputs exist, so they are "not_run", not "up_to_date".
    cut_short = {rule for rule, n in h._planned.items() if started_per_rule[rule] < n}
    failed_units = {(f.rule, f.unit) for f in h.failed_jobs()}
    jobs = []
    for job in h.plan.jobs:
        key = (job.rule, job.batch or job.unit)
        jid = started.get(key)
        outputs_present = all(os.path.exists(wd / p) for p, _ in job.outputs)
        if (job.rule, job.unit) in failed_units:
            status = "failed"
        elif jid is not None and jid in h._finished:
            status = "succeeded"
        elif jid is not None and job.batch and jid in h._errors:
            status = "succeeded" if _unit_ok(wd, job) else "not_run"
        elif jid is None and outputs_present and job.rule not in cut_short:
            status = "up_to_date"
        else:
            status = "not_run"
        if status == "succeeded" and _skipped(wd / job.log):
            status = "up_to_date"  # scheduled, but its provenance record was current
        seconds, rss, end = _bench(wd / job.benchmark)
        entry = {"rule": job.rule, "unit": job.unit, "status": status,
                 "wall_s": seconds, "max_rss_mb": rss, "end_time": end,
                 "log": job.log, "benchmark": job.benchmark, "batch": job.batch}  # fmt: skip
        if jid in h._submitted:
            entry["executor_job"] = h._submitted[jid]
        jobs.append(entry)
    _add_executor_states(jobs)
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j["status"]] = counts.get(j["status"], 0) + 1
    return {"working_dir": str(wd), "status": h.status, "started": h._started,
            "ended": time.time(), "run_log": str(h.run_log), "counts": counts,
            "executor": effective_executor(h._cfg), "versions": software_versions(h._cfg), "jobs": jobs}  # fmt: skip


#: executors built into Snakemake; every other one is a plugin package
BUILTIN_EXECUTORS = ("local", "dryrun", "touch")


def installed_executors() -> list[str]:
    """The executors Snakemake can use here: its own and those of installed plugins."""
    from importlib import metadata

    prefix = "snakemake-executor-plugin-"
    plugins = {
        (dist.metadata["Name"] or "").lower().replace("_", "-") for dist in metadata.distributions()
    }
    return [*BUILTIN_EXECUTORS, *sorted(n[len(prefix) :] for n in plugins if n.startswith(prefix))]


def check_executor(name: str, where: str = "") -> None:
    """ValueError unless Snakemake can run with executor `name`: saying which package a known
    but missing plugin is, or which executors are installed and the closest one."""
    import difflib

    available = installed_executors()
    if name in available:
        return
    prefix = f"{where}: " if where else ""
    if name in ("slurm", "kubernetes", "aws-batch", "googlebatch", "cluster-generic"):
        raise ValueError(f"{prefix}executor {name!r} needs the package "
                         f"snakemake-executor-plugin-{name}, which is not installed")  # fmt: skip
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"{prefix}unknown executor {name!r} (installed: {', '.join(available)}){hint}")


def effective_executor(cfg: SnakemakeBackendConfig) -> str:
    """The executor Snakemake runs with: the config's, unless it was left at its default and
    the profile names one."""
    if cfg.profile is None or "executor" in cfg.model_fields_set:
        return cfg.executor
    return str(read_profile(cfg.profile).get("executor", cfg.executor))


def software_versions(cfg: SnakemakeBackendConfig) -> dict[str, str]:
    """Snakemake's version, the executor plugin's (when one is used), and the caller's own."""
    from importlib import metadata

    names = ["snakemake"]
    executor = effective_executor(cfg)
    if executor != "local":
        names.append(f"snakemake-executor-plugin-{executor}")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return {**found, **cfg.software_versions}


def _add_executor_states(jobs: list[dict]) -> None:
    """The final state of each SLURM job, from accounting (`sacct`), beside its id and log."""
    slurm = {j["executor_job"]["id"]: j["executor_job"] for j in jobs
             if j.get("executor_job", {}).get("system") == "slurm"}  # fmt: skip
    if not slurm:
        return
    try:
        done = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(slurm)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return
    for line in done.stdout.splitlines():
        job_id, _, state = line.partition("|")
        if job_id in slurm:
            slurm[job_id]["state"] = state.split()[0] if state else ""


def _skipped(log: Path) -> bool:
    """Did the job find its outputs up to date and skip its command?"""
    try:
        with open(log, "rb") as f:
            return f.read(len(UP_TO_DATE) + 1).decode(errors="replace").startswith(UP_TO_DATE)
    except OSError:
        return False


def _unit_ok(wd: Path, job: Any) -> bool:
    log = wd / batch_log(job.rule, job.batch)
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return False
    return f"pipecraft-unit\t{job.unit}\tok\t" in text
