"""Provenance records beside the outputs decide what re-runs (real Snakemake).

A source file feeds `cat` (one job per unit) whose output feeds `count`; a ledger records
every command that really ran.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pipecraft_helpers import PY, ledger_lines

import pipecraft as pc

# append a tag to the ledger, then copy the inputs' text (upper-cased) into the output
COPY = (
    "import sys; ledger, tag, out, *src = sys.argv[1:]; open(ledger, 'a').write(tag + '\\n');"
    " open(out, 'w').write(''.join(open(s).read().upper() for s in src))"
)


@pytest.fixture
def world(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    for u in ("u1", "u2"):
        (src / f"{u}.txt").write_text(u)
    ledger = tmp_path / "ledger"

    def pipeline(tag: str = "") -> pc.Seq:
        cat = pc.FanOut(
            name="cat",
            argv=[PY, "-c", COPY, str(ledger), "cat-{unit}", "{output.o}", "{input.src}"],
            units=[pc.Unit(id=u, inputs={"src": [str(src / f"{u}.txt")]}) for u in ("u1", "u2")],
            outputs={"o": pc.file(str(tmp_path / "cat" / "{unit}.txt"))},
        )
        count = pc.Command(
            name="count",
            argv=[
                PY,
                "-c",
                COPY,
                str(ledger),
                "count" + tag,
                str(tmp_path / "count.txt"),
                *[str(tmp_path / "cat" / f"{u}.txt") for u in ("u1", "u2")],
            ],
            inputs={"cat": [str(tmp_path / "cat" / f"{u}.txt") for u in ("u1", "u2")]},
            outputs={"o": [pc.file(str(tmp_path / "count.txt"))]},
        )
        return pc.Seq([cat, count])

    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2, progress=False))

    def run(folder: str = "wd", tag: str = "") -> list[str]:
        """Run; the commands that really ran (and then check a second run has nothing to do)."""
        ledger.unlink(missing_ok=True)
        handle = backend.run(pipeline(tag), working_dir=tmp_path / folder)
        ran = sorted(ledger_lines(ledger))
        assert backend.dry_run(pipeline(tag), working_dir=tmp_path / folder).total == 0
        statuses = {j["status"] for j in json.loads(handle.summary_path.read_text())["jobs"]}
        assert statuses <= {"succeeded", "up_to_date"}
        return ran

    return tmp_path, src, run


def test_first_run_then_nothing(world):
    tmp_path, _, run = world
    assert run() == ["cat-u1", "cat-u2", "count"]
    assert run() == []
    assert (tmp_path / "count.txt").read_text() == "U1U2"
    assert (tmp_path / "cat" / ".u1.txt.provenance.json").exists()


def test_another_run_folder_sees_the_same_outputs(world):
    tmp_path, _, run = world
    run()
    assert run("elsewhere") == []  # scheduled there (no stamps yet), but nothing to redo
    assert run("elsewhere") == []


def test_identical_bytes_rewrite_runs_nothing(world):
    _, src, run = world
    run()
    path = src / "u1.txt"
    path.write_text(path.read_text())
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert run() == []


def test_other_bytes_rerun_the_unit_and_its_dependents_only(world):
    tmp_path, src, run = world
    run()
    (src / "u2.txt").write_text("u2 changed")
    assert run() == ["cat-u2", "count"]
    assert (tmp_path / "count.txt").read_text() == "U1U2 CHANGED"


def test_an_upstream_rerun_with_the_same_result_stops_there(world):
    tmp_path, src, run = world
    run()
    (src / "u1.txt").write_text("U1")  # upper-cased: cat writes the same bytes as before
    assert run() == ["cat-u1"]


def test_a_deleted_output_is_rebuilt_in_one_run(world):
    tmp_path, _, run = world
    run()
    (tmp_path / "cat" / "u2.txt").unlink()
    assert run() == ["cat-u2"]  # the same bytes again: count is up to date
    assert (tmp_path / "cat" / "u2.txt").read_text() == "U2"


def test_a_changed_command_reruns_its_job_from_any_folder(world):
    _, _, run = world
    run()
    assert run("other", tag="!") == ["count!"]
    assert run("wd", tag="!") == []


def test_a_job_that_fails_leaves_no_output_and_no_record(world, tmp_path):
    out = tmp_path / "bad.txt"
    fail = pc.Command(
        name="bad",
        argv=[PY, "-c", f"open({str(out)!r}, 'w').write('half'); raise SystemExit(3)"],
        outputs={"o": [pc.file(str(out))]},
    )
    handle = pc.SnakemakeBackend().run(fail, working_dir=tmp_path / "wd-bad", check=False)
    assert handle.status == "failed"
    assert not out.exists() and not (tmp_path / ".bad.txt.provenance.json").exists()


def _fingerprint_within(inputs: list[str], seconds: float = 20.0) -> dict:
    """provenance.fingerprint, failing the test (not hanging it) if it blocks."""
    import threading

    from pipecraft import provenance

    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(fp=provenance.fingerprint(inputs, {})),
                              daemon=True)  # fmt: skip
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "fingerprinting blocked"
    return result["fp"]


def test_a_fifo_or_a_broken_link_in_an_input_folder_is_fingerprinted_without_reading_it(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.tiff").write_bytes(b"pixels")
    os.mkfifo(folder / "b.tiff")  # opening it to read would block until someone writes
    (folder / "c.tiff").symlink_to(tmp_path / "gone.tiff")
    fp = _fingerprint_within([str(folder)])
    assert fp[str(folder / "b.tiff")][2].startswith("not-a-file:")
    assert fp[str(folder / "c.tiff")][2] == f"broken-link:{tmp_path / 'gone.tiff'}"
    assert len(fp[str(folder / "a.tiff")][2]) == 64  # sha256 of the regular file


def test_files_in_a_symlinked_folder_count_and_a_link_loop_is_walked_once(tmp_path):
    elsewhere = tmp_path / "plate2"
    elsewhere.mkdir()
    (elsewhere / "x.tiff").write_bytes(b"one")
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "Plate2").symlink_to(elsewhere)  # a plate kept on another disk
    (elsewhere / "loop").symlink_to(folder)
    before = _fingerprint_within([str(folder)])
    assert str(folder / "Plate2" / "x.tiff") in before
    (elsewhere / "x.tiff").write_bytes(b"two")
    after = _fingerprint_within([str(folder)])
    assert after[str(folder / "Plate2" / "x.tiff")][2] != before[str(folder / "Plate2" / "x.tiff")][2]
