"""Runs through real Snakemake: quoting, ordering, resume, failures, lock, summary."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from pipecraft_helpers import PY, ledger_lines, record_argv

import pipecraft as pc

WEIRD = [
    "$(touch INJECTED)",
    'a"b',
    "x;rm -rf y",
    "with space",
    "new\nline",
    "ünï`cöde`",
    "it's",
    "$HOME",
    "-dash",
]
COPY = "import sys, shutil; [shutil.copyfile(s, d) for s, d in zip(sys.argv[1::2], sys.argv[2::2])]"


def test_injection_names_flow_literally_and_nothing_is_executed(backend, tmp_path):
    src_dir = tmp_path / "in put"
    src_dir.mkdir()
    (tmp_path / "y").write_text("keep me")
    for i, name in enumerate(WEIRD):
        (src_dir / name).write_text(f"content {i}")
    out_dir = tmp_path / "out $(touch INJECTED) ;`x`"
    cmd = pc.Command(
        name="copy_all",
        argv=[PY, "-c", COPY, *[a for n in WEIRD for a in (str(src_dir / n), str(out_dir / n))]],
        inputs={"src": [str(src_dir / n) for n in WEIRD]},
        outputs={"dst": [pc.file(str(out_dir / n)) for n in WEIRD]},
    )
    fan = pc.FanOut(
        name="copy_each",
        argv=[PY, "-c", COPY, "{input.src}", "{output.dst}"],
        units=[
            pc.Unit(id=f"u{i}", inputs={"src": [str(out_dir / n)]}) for i, n in enumerate(WEIRD)
        ],
        outputs={"dst": pc.file(str(tmp_path / "fan $(touch INJECTED)" / '{unit} a"b;rm -rf y'))},
    )
    handle = backend.run(pc.Seq([cmd, fan]), working_dir=tmp_path / "wd")
    assert handle.status == "succeeded"
    for i, name in enumerate(WEIRD):
        assert (out_dir / name).read_text() == f"content {i}"
        assert (
            tmp_path / "fan $(touch INJECTED)" / f'u{i} a"b;rm -rf y'
        ).read_text() == f"content {i}"
    assert (tmp_path / "y").read_text() == "keep me"
    injected = [p for root in (tmp_path, Path.cwd()) for p in root.rglob("INJECTED")]
    assert injected == []


def test_seq_orders_nodes_without_shared_paths(backend, tmp_path):
    stamp = "import sys, time; open(sys.argv[1], 'w').write(repr(time.time())); time.sleep(float(sys.argv[2])); open(sys.argv[3], 'w').write(repr(time.time()))"
    a = pc.FanOut(
        name="a",
        argv=[PY, "-c", stamp, str(tmp_path / "a_{unit}.start"), "1.0", "{output.end}"],
        units=[pc.Unit(id="u1"), pc.Unit(id="u2")],
        outputs={"end": pc.file(str(tmp_path / "a_{unit}.end"))},
    )
    b = pc.Command(
        name="b",
        argv=[PY, "-c", stamp, str(tmp_path / "b.start"), "0", str(tmp_path / "b.end")],
        outputs={"end": [pc.file(str(tmp_path / "b.end"))]},
    )
    backend.run(pc.Seq([a, b]), working_dir=tmp_path / "wd")
    a_end = max(float((tmp_path / f"a_{u}.end").read_text()) for u in ("u1", "u2"))
    assert float((tmp_path / "b.start").read_text()) >= a_end


def test_keep_going_failed_jobs_summary_and_rerun(tmp_path):
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2, keep_going=True))
    code = "import sys; open(sys.argv[2], 'w').write('ok'); sys.exit(sys.argv[1] == 'bad')"
    flag = tmp_path / "fail-unit"
    flag.write_text("bad")
    fan = pc.FanOut(
        name="work",
        argv=[PY, "-c", "print('Error: boom', flush=True); " + code, "{param.which}", "{output.o}"],
        units=[
            pc.Unit(id=u, params={"which": u if u != "bad" else flag.read_text()})
            for u in ("u1", "bad", "u3", "u4")
        ],
        outputs={"o": pc.file(str(tmp_path / "out" / "{unit}.txt"))},
    )
    wd = tmp_path / "wd"
    # the failed job is named with what its log says went wrong
    with pytest.raises(
        pc.RunFailedError, match=r"rule work, unit bad: boom \(log: .*logs/work/bad.log\)"
    ):
        backend.run(fan, working_dir=wd)
    for u in ("u1", "u3", "u4"):
        assert (tmp_path / "out" / f"{u}.txt").read_text() == "ok"
    assert not (tmp_path / "out" / "bad.txt").exists()
    summary = json.loads((wd / "run_summary.json").read_text())
    status = {j["unit"]: j["status"] for j in summary["jobs"]}
    assert status == {"u1": "succeeded", "bad": "failed", "u3": "succeeded", "u4": "succeeded"}
    ok = next(j for j in summary["jobs"] if j["unit"] == "u1")
    assert ok["wall_s"] is not None and ok["wall_s"] >= 0 and ok["max_rss_mb"] is not None
    assert ok["log"] == "logs/work/u1.log" and summary["status"] == "failed"
    assert "boom" in (wd / "logs" / "work" / "bad.log").read_text()

    handle = backend.run(fan, working_dir=wd, check=False)
    assert handle.status == "failed"
    assert handle.failed_jobs() == [("work", "bad", wd / "logs" / "work" / "bad.log")]
    assert handle.summary()["counts"] == {"up_to_date": 3, "failed": 1}


def test_kill_and_resume_rebuilds_only_unfinished_units(tmp_path):
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=3))  # a slot for fast units
    ledger = tmp_path / "ledger"
    slow = tmp_path / "slow-delay"
    slow.write_text("30")
    delays = {"fast1": "0", "fast2": "0", "slow1": f"@{slow}", "slow2": f"@{slow}"}
    fan = pc.FanOut(
        name="work",
        argv=record_argv(ledger, "{unit}", "{output.o}", "complete", "{param.delay}"),
        units=[pc.Unit(id=u, params={"delay": d}) for u, d in delays.items()],
        outputs={"o": pc.file(str(tmp_path / "out" / "{unit}.txt"))},
    )
    wd = tmp_path / "wd"
    handle = backend.run(fan, working_dir=wd, wait=False)
    out = tmp_path / "out"

    def fast_done_slow_running() -> bool:
        return set(delays) <= set(ledger_lines(ledger)) and all(
            (out / f"fast{i}.txt").exists() and (out / f"fast{i}.txt").read_text() == "complete"
            for i in (1, 2)
        )

    deadline = time.time() + 60
    while not fast_done_slow_running() and time.time() < deadline:
        time.sleep(0.2)
    assert fast_done_slow_running()
    time.sleep(1.0)  # let Snakemake record the fast jobs as finished
    os.killpg(handle.pid, signal.SIGKILL)  # Snakemake and its running jobs die at once
    handle.wait(30)
    assert (tmp_path / "out" / "slow1.txt").read_text() == "partial"
    assert (tmp_path / "out" / "fast1.txt").read_text() == "complete"

    slow.write_text("0")  # same commands; the killed units now finish quickly
    resumed = backend.run(fan, working_dir=wd)
    assert resumed.status == "succeeded"
    assert sorted(ledger_lines(ledger)) == ["fast1", "fast2", "slow1", "slow1", "slow2", "slow2"]
    for u in delays:
        assert (tmp_path / "out" / f"{u}.txt").read_text() == "complete"


def test_second_run_in_same_dir_is_refused_then_allowed(backend, tmp_path):
    fan = pc.FanOut(
        name="sleepy",
        argv=[PY, "-c", "import time,sys; time.sleep(60)"],
        units=[pc.Unit(id="u")],
        outputs={"o": pc.file(str(tmp_path / "{unit}"))},
    )
    wd = tmp_path / "wd"
    first = backend.run(fan, working_dir=wd, wait=False)
    with pytest.raises(pc.RunLockedError, match="in use by another pipecraft run"):
        backend.run(fan, working_dir=wd)
    with pytest.raises(pc.RunLockedError):
        backend.compile(fan, working_dir=wd)
    first.terminate()
    assert first.wait(30) == "interrupted"
    quick = pc.Command(
        name="quick",
        argv=["touch", str(tmp_path / "q")],
        outputs={"o": [pc.file(str(tmp_path / "q"))]},
    )
    assert backend.run(quick, working_dir=wd).status == "succeeded"


def test_param_change_reruns_only_that_unit_and_its_dependents(backend, tmp_path):
    ledger = tmp_path / "ledger"
    up = {"u1": "one", "u2": "two", "u3": "three"}

    def pipeline(values: dict[str, str]) -> pc.Seq:
        a = pc.FanOut(
            name="a",
            argv=record_argv(ledger, "a-{unit}", "{output.o}", "{param.v}"),
            units=[pc.Unit(id=u, params={"v": v}) for u, v in values.items()],
            outputs={"o": pc.file(str(tmp_path / "a" / "{unit}.txt"))},
        )
        b = pc.FanOut(
            name="b",
            argv=record_argv(ledger, "b-{unit}", "{output.o}", "b"),
            units=[pc.Unit(id=u, inputs={"x": [str(tmp_path / "a" / f"{u}.txt")]}) for u in values],
            outputs={"o": pc.file(str(tmp_path / "b" / "{unit}.txt"))},
        )
        c = pc.Command(
            name="c",
            argv=record_argv(ledger, "c", str(tmp_path / "c.txt"), "c"),
            outputs={"o": [pc.file(str(tmp_path / "c.txt"))]},
        )
        return pc.Seq([a, b, c])

    wd = tmp_path / "wd"
    backend.run(pipeline(up), working_dir=wd)
    assert len(ledger_lines(ledger)) == 7
    ledger.unlink()
    backend.run(pipeline(up), working_dir=wd)
    assert ledger_lines(ledger) == []
    backend.run(pipeline({**up, "u2": "TWO"}), working_dir=wd)
    assert sorted(ledger_lines(ledger)) == ["a-u2", "b-u2"]
    assert (tmp_path / "a" / "u2.txt").read_text() == "TWO"


def test_batched_fanout_logs_per_unit_and_reports_failed_unit(tmp_path):
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2))
    code = "import sys; sys.exit(3) if sys.argv[1] == 'u3' else open(sys.argv[2], 'w').write('x')"
    fan = pc.FanOut(
        name="packed",
        argv=[PY, "-c", code, "{unit}", "{output.o}"],
        units=[pc.Unit(id=f"u{i}") for i in range(5)],
        outputs={"o": pc.file(str(tmp_path / "out" / "{unit}"))},
        batch_size=2,
    )
    wd = tmp_path / "wd"
    handle = backend.run(fan, working_dir=wd, check=False)
    assert handle.status == "failed"
    assert [(f.rule, f.unit) for f in handle.failed_jobs()] == [("packed", "u3")]
    status = {j["unit"]: j["status"] for j in handle.summary()["jobs"]}
    assert status == {
        "u0": "succeeded",
        "u1": "succeeded",
        "u2": "succeeded",
        "u3": "failed",
        "u4": "succeeded",
    }
    assert (wd / "benchmarks" / "packed" / "u0.tsv").exists()
    (tmp_path / "out" / "u0").unlink()  # a lost output makes its batch run again
    dry = backend.dry_run(fan, working_dir=wd)
    assert dry.jobs == {"packed": 2}


def test_compiled_snakefile_runs_with_plain_snakemake_and_dry_run(backend, tmp_path):
    cmd = pc.Command(
        name="make",
        argv=[PY, "-c", "import sys; open(sys.argv[1], 'w').write('m')", "{output.o}"],
        outputs={"o": [pc.file("made.txt")]},
    )
    fan = pc.FanOut(
        name="each",
        argv=["cp", "{input.src}", "{output.o}"],
        units=[pc.Unit(id=f"u{i}", inputs={"src": ["made.txt"]}) for i in range(3)],
        outputs={"o": pc.file("each/{unit}.txt")},
    )
    pipeline = pc.Seq([cmd, fan])
    wd = tmp_path / "wd"
    dry = backend.dry_run(pipeline, working_dir=wd)
    assert dry.jobs == {"make": 1, "each": 3} and dry.total == 4
    assert not (wd / "made.txt").exists()
    snakefile = backend.compile(pipeline=pipeline, config=backend.config, working_dir=str(wd))
    assert snakefile == wd / "Snakefile"
    subprocess.run(
        [sys.executable, "-m", "snakemake", "-c", "1"], cwd=wd, check=True, capture_output=True
    )
    assert [(wd / "each" / f"u{i}.txt").read_text() for i in range(3)] == ["m"] * 3
    assert (wd / "logs" / "each" / "u0.log").exists()
    assert (wd / "benchmarks" / "each" / "u0.tsv").exists()


def test_telemetry_writes_one_span_per_job_to_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2, use_opentelemetry=True))
    fan = pc.FanOut(
        name="t",
        argv=["touch", "{output.o}"],
        units=[pc.Unit(id=f"u{i}") for i in range(3)],
        outputs={"o": pc.file(str(tmp_path / "{unit}"))},
    )
    backend.run(fan, config=backend.config, working_dir=tmp_path / "wd")
    from pipecraft.telemetry import read_spans

    spans = [s for s in read_spans(tmp_path / "wd") if s["name"] != "pipecraft.run"]
    assert sorted(s["attributes"]["unit"] for s in spans) == ["u0", "u1", "u2"]
    assert {s["attributes"]["status"] for s in spans} == {"succeeded"}
    assert all(s["attributes"]["rule"] == "t" for s in spans)


def test_print_exec_echoes_commands(tmp_path, capsys):
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=1, print_exec=True))
    cmd = pc.Command(
        name="hello",
        argv=["touch", str(tmp_path / "h i")],
        outputs={"o": [pc.file(str(tmp_path / "h i"))]},
    )
    backend.run(cmd, working_dir=tmp_path / "wd")
    out = capsys.readouterr().out
    assert f"[hello] ( touch '{tmp_path}/h i' )" in out
    assert "steps (100%) done" in out


STAMP = (
    "import sys, time; open(sys.argv[1], 'w').write(repr(time.time())); "
    "time.sleep(float(sys.argv[2])); open(sys.argv[3], 'w').write(repr(time.time()))"
)


@pytest.mark.parametrize("batch_size", [None, 2])
def test_seq_unit_reading_nothing_from_the_previous_node_waits_for_all_of_it(tmp_path, batch_size):
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=3))
    a = pc.FanOut(
        name="a",
        argv=[PY, "-c", STAMP, str(tmp_path / "a_{unit}.start"), "{param.delay}", "{output.end}"],
        units=[
            pc.Unit(id="fast", params={"delay": "0"}),
            pc.Unit(id="slow", params={"delay": "3"}),
        ],
        outputs={"end": pc.file(str(tmp_path / "a_{unit}.end"))},
    )
    reads = {"i": [str(tmp_path / "a_fast.end")]}
    b = pc.FanOut(
        name="b",
        argv=[PY, "-c", STAMP, str(tmp_path / "b_{unit}.start"), "0", "{output.end}"],
        units=[
            pc.Unit(id="reads1", inputs=reads),
            pc.Unit(id="reads2", inputs=reads),
            pc.Unit(id="free1"),
            pc.Unit(id="free2"),
        ],
        outputs={"end": pc.file(str(tmp_path / "b_{unit}.end"))},
        batch_size=batch_size,
    )
    backend.run(pc.Seq([a, b]), working_dir=tmp_path / "wd")
    slow_end = float((tmp_path / "a_slow.end").read_text())
    fast_end = float((tmp_path / "a_fast.end").read_text())
    for u in ("free1", "free2"):
        assert float((tmp_path / f"b_{u}.start").read_text()) >= slow_end
    for u in ("reads1", "reads2"):
        assert float((tmp_path / f"b_{u}.start").read_text()) >= fast_end


INJECT = "x\r__import__('os').system('touch PWNED')"
SEPARATORS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
ARGS_JSON = "import sys, json; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"


def test_line_separators_in_argv_cannot_inject_code_into_the_snakefile(backend, tmp_path):
    payloads = [INJECT] + [
        f"y{s}__import__('os').system('touch PWNED{i}')" for i, s in enumerate(SEPARATORS)
    ]
    cmd = pc.Command(
        name="cmd",
        argv=[PY, "-c", ARGS_JSON, "{output.o}", *payloads],
        outputs={"o": [pc.file(str(tmp_path / "cmd.json"))]},
    )
    fan = pc.FanOut(
        name="fan",
        argv=[PY, "-c", ARGS_JSON, "{output.o}", INJECT],
        units=[pc.Unit(id="u")],
        outputs={"o": pc.file(str(tmp_path / "{unit}.json"))},
    )
    wd = tmp_path / "wd"
    pipeline = pc.Parallel([cmd, fan])
    backend.compile(pipeline, working_dir=wd)
    assert backend.dry_run(pipeline, working_dir=wd).jobs == {"cmd": 1, "fan": 1}
    assert backend.run(pipeline, working_dir=wd).status == "succeeded"
    assert json.loads((tmp_path / "cmd.json").read_text()) == payloads
    assert json.loads((tmp_path / "u.json").read_text()) == [INJECT]
    pwned = [p for root in (tmp_path, Path.cwd()) for p in root.rglob("PWNED*")]
    assert pwned == []


@pytest.mark.parametrize("batch_size", [None, 2])
def test_braces_in_argv_reach_the_program_literally(backend, tmp_path, batch_size):
    braces = ["{d}", "'{0}'.format", "{0}", "{{x}}", "}{", "{output}", "{wildcards.unit}"]
    cmd = pc.Command(
        name="cmd",
        argv=[PY, "-c", ARGS_JSON, "{output.o}", *braces],
        outputs={"o": [pc.file(str(tmp_path / "cmd.json"))]},
    )
    fan = pc.FanOut(
        name="fan",
        argv=[PY, "-c", ARGS_JSON, "{output.o}", "{unit}", *braces],
        units=[pc.Unit(id=f"u{i}") for i in range(3)],
        batch_size=batch_size,
        outputs={"o": pc.file(str(tmp_path / "fan" / "{unit}.json"))},
    )
    assert backend.run(pc.Parallel([cmd, fan]), working_dir=tmp_path / "wd").status == "succeeded"
    assert json.loads((tmp_path / "cmd.json").read_text()) == braces
    for i in range(3):
        assert json.loads((tmp_path / "fan" / f"u{i}.json").read_text()) == [f"u{i}", *braces]


RACE = """
import sys, time
import pipecraft as pc
wd, out, go = sys.argv[1], sys.argv[2], float(sys.argv[3])
cmd = pc.Command(name="slow", argv=[sys.executable, "-c",
                 "import sys, time; time.sleep(2); open(sys.argv[1], 'w').write('x')", "{output.o}"],
                 outputs={"o": [pc.file(out)]})
backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=1))
time.sleep(max(0.0, go - time.time()))
try:
    backend.run(cmd, working_dir=wd)
    print("proceeded")
except pc.RunLockedError as err:
    print("locked", "in use by another pipecraft run" in str(err))
except Exception as err:  # got past the lock, then collided with another run
    print("proceeded", type(err).__name__)
"""


def _dead_process() -> tuple[int, float]:
    proc = subprocess.Popen(["true"])
    created = psutil.Process(proc.pid).create_time()  # a zombie until waited
    proc.wait()
    return proc.pid, created


@pytest.mark.parametrize("stale", [False, True])
def test_runs_started_at_the_same_moment_exactly_one_proceeds(tmp_path, stale):
    wd = tmp_path / "wd"
    if stale:  # a lock left by a run that died: every contender sees it and clears it
        pid, created = _dead_process()
        (wd / ".pipecraft").mkdir(parents=True)
        (wd / ".pipecraft" / "run.lock").write_text(
            json.dumps({"pid": pid, "pgid": pid, "created": created, "started": "earlier"})
        )
    env = {**os.environ, "PYTHONPATH": str(Path(pc.__file__).parent.parent)}
    go = time.time() + 6
    procs = [
        subprocess.Popen(
            [PY, "-c", RACE, str(wd), str(tmp_path / "out.txt"), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    outcomes = sorted(out.strip() for out, _ in results)
    assert outcomes == ["locked True"] * 3 + ["proceeded"], results


def test_stale_lock_with_a_reused_pid_signals_no_one(backend, tmp_path):
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)  # pgid == its pid
    try:
        wd = tmp_path / "wd"
        (wd / ".pipecraft").mkdir(parents=True)
        created = psutil.Process(bystander.pid).create_time() - 100
        (wd / ".pipecraft" / "run.lock").write_text(
            json.dumps(
                {"pid": bystander.pid, "pgid": bystander.pid, "created": created, "started": "x"}
            )
        )
        quick = pc.Command(
            name="quick",
            argv=["touch", str(tmp_path / "q")],
            outputs={"o": [pc.file(str(tmp_path / "q"))]},
        )
        assert backend.run(quick, working_dir=wd).status == "succeeded"
        time.sleep(0.5)
        assert bystander.poll() is None  # the process that reused the pid is untouched
    finally:
        bystander.kill()
        bystander.wait()


def test_stale_lock_kills_the_jobs_a_dead_run_left_in_its_group(backend, tmp_path):
    leader = subprocess.Popen(
        [
            PY,
            "-c",
            "import subprocess, os; p = subprocess.Popen(['sleep', '60']); "
            "print(p.pid, flush=True); os._exit(0)",
        ],
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    created = psutil.Process(leader.pid).create_time()
    orphan = psutil.Process(int(leader.stdout.readline()))
    leader.wait()
    wd = tmp_path / "wd"
    (wd / ".pipecraft").mkdir(parents=True)
    (wd / ".pipecraft" / "run.lock").write_text(
        json.dumps({"pid": leader.pid, "pgid": leader.pid, "created": created, "started": "x"})
    )
    try:
        quick = pc.Command(
            name="quick",
            argv=["touch", str(tmp_path / "q")],
            outputs={"o": [pc.file(str(tmp_path / "q"))]},
        )
        assert backend.run(quick, working_dir=wd).status == "succeeded"
        deadline = time.time() + 10
        while (
            orphan.is_running()
            and orphan.status() != psutil.STATUS_ZOMBIE
            and time.time() < deadline
        ):
            time.sleep(0.1)
        assert not orphan.is_running() or orphan.status() == psutil.STATUS_ZOMBIE
    finally:
        if orphan.is_running():
            orphan.kill()


def test_unreachable_otlp_endpoint_does_not_stall_the_run(tmp_path, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/v1/traces")
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2, use_opentelemetry=True))
    fan = pc.FanOut(
        name="t",
        argv=["touch", "{output.o}"],
        units=[pc.Unit(id=f"u{i}") for i in range(4)],
        outputs={"o": pc.file(str(tmp_path / "{unit}"))},
    )
    handle = backend.run(fan, working_dir=tmp_path / "wd")
    exporting = time.time() - handle.summary()["ended"]  # the summary is written before export
    assert exporting < 20, (
        exporting
    )  # the export budget is 5 s in all (was ~7 s per span, 34 s here)
    assert not (tmp_path / "wd" / "telemetry").exists()


class _Collector:
    """A real OTLP/HTTP endpoint on localhost that records the paths it is sent to."""

    def __init__(self) -> None:
        import http.server
        import threading

        paths = self.paths = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_otlp_traces_endpoint_is_the_full_url_and_the_base_endpoint_gets_v1_traces(
    tmp_path, monkeypatch
):
    from pipecraft.telemetry import export_spans

    now = time.time()
    summary = {
        "started": now - 2,
        "ended": now,
        "working_dir": str(tmp_path),
        "status": "succeeded",
        "jobs": [
            {
                "rule": "r",
                "unit": "u",
                "status": "succeeded",
                "end_time": now - 1,
                "wall_s": 0.5,
                "log": "logs/r/u.log",
            }
        ],
    }
    collector = _Collector()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url + "/base")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.url + "/custom/path")
        export_spans(summary, tmp_path)
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        export_spans(summary, tmp_path)
        export_spans(summary, tmp_path, endpoint=collector.url + "/conf")
    finally:
        collector.server.shutdown()
    assert collector.paths == ["/custom/path", "/base/v1/traces", "/conf/v1/traces"]


def test_progress_is_reported_on_stderr_and_can_be_switched_off(tmp_path, capsys):
    code = "import sys; sys.exit(1) if sys.argv[1] == 'bad' else open(sys.argv[2], 'w').write('x')"

    def fan(out: str) -> pc.FanOut:
        return pc.FanOut(
            name="work",
            argv=[PY, "-c", code, "{unit}", "{output.o}"],
            units=[pc.Unit(id=u) for u in ("u1", "bad", "u3")],
            outputs={"o": pc.file(str(tmp_path / out / "{unit}"))},
        )

    quiet = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2, progress=False))
    assert quiet.run(fan("q"), working_dir=tmp_path / "quiet", check=False).status == "failed"
    assert capsys.readouterr().err == ""

    loud = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2))
    assert loud.run(fan("l"), working_dir=tmp_path / "loud", check=False).status == "failed"
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines and all(re.fullmatch(r"pipecraft: jobs \d+/\d+ \(failed \d\)", x) for x in lines)
    assert lines[-1] == "pipecraft: jobs 2/5 (failed 1)"  # of 3 units, work__done and all
    assert "pipecraft: jobs" not in captured.out

    ok = pc.FanOut(
        name="fine",
        argv=["touch", "{output.o}"],
        units=[pc.Unit(id="a")],
        outputs={"o": pc.file(str(tmp_path / "fine" / "{unit}"))},
    )
    loud.run(ok, working_dir=tmp_path / "fine_wd")
    assert capsys.readouterr().err.splitlines()[-1] == "pipecraft: jobs 3/3 (failed 0)"


def test_recorded_snakemake_still_alive_without_the_lock_is_refused_and_left_alone(
    backend, tmp_path
):
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        wd = tmp_path / "wd"
        (wd / ".pipecraft").mkdir(parents=True)
        record = {
            "pid": other.pid,
            "pgid": other.pid,
            "started": "x",
            "created": psutil.Process(other.pid).create_time(),
        }
        (wd / ".pipecraft" / "run.lock").write_text(json.dumps(record))
        quick = pc.Command(name="quick", argv=["true"])
        with pytest.raises(pc.RunLockedError, match=f"Snakemake pid {other.pid}"):
            backend.run(quick, working_dir=wd)
        assert json.loads((wd / ".pipecraft" / "run.lock").read_text()) == record
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_units_a_stopped_run_never_reached_are_not_reported_up_to_date(tmp_path):
    """B depends on A; A is changed so that it fails and the run stops. B's old outputs are
    outdated (Snakemake planned to rebuild them), so they are "not_run"; C, which nothing
    changed, is "up_to_date"."""
    write = "import sys; open(sys.argv[1], 'w').write('x')"
    a_out, b_out, c_out = (
        tmp_path / "a.txt",
        tmp_path / "b" / "{unit}.txt",
        tmp_path / "c" / "{unit}.txt",
    )

    def pipeline(a_code: str) -> pc.Parallel:
        a = pc.Command(
            name="a", argv=[PY, "-c", a_code, "{output.o}"], outputs={"o": [pc.file(str(a_out))]}
        )
        b = pc.FanOut(
            name="b",
            argv=[PY, "-c", write, "{output.o}"],
            units=[pc.Unit(id=u, inputs={"a": [str(a_out)]}) for u in ("u1", "u2")],
            outputs={"o": pc.file(str(b_out))},
        )
        c = pc.FanOut(
            name="c",
            argv=[PY, "-c", write, "{output.o}"],
            units=[pc.Unit(id=u) for u in ("u1", "u2")],
            outputs={"o": pc.file(str(c_out))},
        )
        return pc.Parallel([pc.Seq([a, b]), c])

    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=1, keep_going=False))
    wd = tmp_path / "wd"
    backend.run(pipeline(write), working_dir=wd)
    handle = backend.run(pipeline(write + "; sys.exit(1)"), working_dir=wd, check=False)
    assert handle.status == "failed"
    status = {
        (j["rule"], j["unit"]): j["status"]
        for j in handle.summary()["jobs"]
        if not j["rule"].endswith("__done")
    }
    assert status == {
        ("a", None): "failed",
        ("b", "u1"): "not_run",
        ("b", "u2"): "not_run",
        ("c", "u1"): "up_to_date",
        ("c", "u2"): "up_to_date",
    }


@pytest.mark.parametrize("batch_size", [1, 2], ids=["one_job_per_unit", "batched"])
def test_a_job_past_its_runtime_limit_is_stopped_and_named(tmp_path, batch_size):
    """No job hangs a run: past `runtime_min` it is stopped, the run fails naming the unit,
    the quick unit beside it succeeds, and the slow one leaves no output."""
    code = (
        "import sys, time; time.sleep(600 if sys.argv[1] == 'hangs' else 0); "
        "open(sys.argv[2], 'w').write('done')"
    )
    fan = pc.FanOut(
        name="limited", argv=[PY, "-c", code, "{unit}", "{output.o}"],
        units=[pc.Unit(id="hangs"), pc.Unit(id="quick")],
        outputs={"o": pc.file(str(tmp_path / "out" / "{unit}"))},
        resources=pc.Resources(runtime_min=1), batch_size=batch_size,
    )  # fmt: skip
    started = time.monotonic()
    handle = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2, progress=False)).run(
        fan, working_dir=tmp_path / "wd", check=False
    )
    assert time.monotonic() - started < 300  # stopped at its limit, not after the 600 s sleep
    assert handle.status == "failed"
    assert [(f.rule, f.unit) for f in handle.failed_jobs()] == [("limited", "hangs")]
    (failed,) = handle.failed_jobs()
    assert "ran past its runtime limit of 1 min" in failed.log.read_text()
    assert (tmp_path / "out" / "quick").read_text() == "done"
    assert not (tmp_path / "out" / "hangs").exists()


def test_a_job_that_succeeds_on_its_retry_makes_a_successful_run(tmp_path):
    code = (
        "import os, sys; first = not os.path.exists(sys.argv[1]); open(sys.argv[1], 'a').close(); "
        "sys.exit(1) if first else open(sys.argv[2], 'w').write('ok')"
    )
    flaky = pc.Command(name="flaky", argv=[PY, "-c", code, str(tmp_path / "tried"), "{output.o}"],
                       outputs={"o": [pc.file(str(tmp_path / "out"))]})  # fmt: skip
    config = pc.SnakemakeBackendConfig(cores=1, retries=1, progress=False)
    handle = pc.SnakemakeBackend(config).run(flaky, working_dir=tmp_path / "wd")
    assert handle.status == "succeeded" and handle.failed_jobs() == []
    assert (tmp_path / "out").read_text() == "ok"


def test_an_on_failure_command_also_runs_after_a_failed_run_and_sees_what_failed(backend, tmp_path):
    """A report at the end of a Seq runs in its turn on success, and once more when the run
    fails, whoever started the run, with the failed jobs readable from the Snakemake log."""
    work = pc.FanOut(
        name="work",
        argv=[PY, "-c", "import sys; open(sys.argv[2], 'w').write('ok'); sys.exit(sys.argv[1] == 'bad')",
              "{param.which}", "{output.o}"],
        units=[pc.Unit(id=u, params={"which": u}) for u in ("u1", "bad")],
        outputs={"o": pc.file(str(tmp_path / "out" / "{unit}.txt"))},
    )  # fmt: skip
    report_code = (
        "import sys\n"
        "from pipecraft.failure import failed_jobs_in_log, failed_run_log\n"
        "log = failed_run_log()\n"
        "jobs = failed_jobs_in_log(log.read_text()) if log else []\n"
        "open(sys.argv[1], 'w').write(repr(jobs) if log else 'success')\n"
    )
    report_file = tmp_path / "report.txt"
    report = pc.Command(name="report", argv=[PY, "-c", report_code, str(report_file)],
                        inputs={"work": [str(tmp_path / "out" / "u1.txt")]},
                        outputs={"report": [str(report_file)]}, on_failure=True)  # fmt: skip
    wd = tmp_path / "wd"
    with pytest.raises(pc.RunFailedError):
        backend.run(pc.Seq([work, report]), working_dir=wd)
    assert report_file.read_text() == "[('work', 'bad', 'logs/work/bad.log')]"
    assert (wd / "logs" / "report" / "on_failure.log").exists()

    ok = work.model_copy(
        update={"units": [pc.Unit(id=u, params={"which": u}) for u in ("u1", "u2")]}
    )
    assert backend.run(pc.Seq([ok, report]), working_dir=tmp_path / "wd2").status == "succeeded"
    assert report_file.read_text() == "success"  # a successful run runs it once, in its turn


def test_a_pipeline_without_on_failure_commands_has_no_failure_handler(backend, tmp_path):
    plain = pc.Command(name="plain", argv=[PY, "-c", "pass"])
    assert "onerror" not in (backend.compile(plain, working_dir=tmp_path)).read_text()
