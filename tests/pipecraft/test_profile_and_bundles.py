"""Snakemake profiles (`profile=`) and bundles of units (`units_per_job=`), through real
Snakemake: how a profile's settings combine with the backend config's, and what a bundle asks
the scheduler for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pipecraft_helpers import PY
from pydantic import ValidationError

import pipecraft as pc
from pipecraft.backend import effective_executor


def _profile(folder: Path, text: str, name: str = "config.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


def _resources(dry_output: str, rule: str) -> dict[str, str]:
    """The resources Snakemake's dry run shows for the first job of `rule`."""
    block = re.search(rf"^rule {rule}:\n(.*?)(?=^\S|\Z)", dry_output, re.M | re.S).group(1)
    line = re.search(r"^\s+resources: (.*)$", block, re.M).group(1)
    return dict(kv.split("=", 1) for kv in line.split(", ") if "=" in kv)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "nowhere", "does not exist"),
        (lambda tmp: _profile(tmp / "p", "x: 1") / "config.yaml", "is not a folder"),
        (lambda tmp: _profile(tmp / "p", "x: 1", name="settings.yaml"), "has no config.yaml"),
        (lambda tmp: _profile(tmp / "p", "cores: [1,\n"), "is not valid YAML (line"),
        (lambda tmp: _profile(tmp / "p", "- a\n- b\n"), "expected a mapping"),
        (lambda tmp: _profile(tmp / "p", "default-resources: 7\n"), "default-resources must be"),
        (lambda tmp: _profile(tmp / "p", "default-resources: [mem_mbb=100]\n"),
         "default-resources: resource 'mem_mbb' is not one Snakemake knows; did you mean 'mem_mb'?"),
    ],
    ids=["missing", "a file", "no config.yaml", "bad yaml", "not a mapping", "bad resources",
         "misspelt resource"],
)
def test_a_bad_profile_is_one_error_naming_it(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(ValidationError) as err:
        pc.SnakemakeBackendConfig(profile=path)
    (problem,) = err.value.errors()
    assert problem["loc"] == ("profile",)
    assert (
        message in problem["msg"]
        and str(path.parent if path.name == "config.yaml" else path) in problem["msg"]
    )
    assert "\n" not in problem["msg"]


def test_a_profile_folder_is_made_absolute_and_may_hold_profile_yaml(tmp_path, monkeypatch):
    _profile(tmp_path / "prof", "executor: slurm\n", name="profile.yaml")
    monkeypatch.chdir(tmp_path)
    assert pc.SnakemakeBackendConfig(profile="prof").profile == tmp_path / "prof"


def test_explicit_settings_win_over_the_profile_and_defaults_yield_to_it(tmp_path):
    profile = _profile(tmp_path / "prof", "executor: slurm\njobs: 100\nlatency-wait: 60\n"
                       "retries: 3\nscheduler: greedy\nslurm-status-attempts: 9\n"
                       "default-resources:\n  slurm_partition: short\n  disk_mb: 7\n")  # fmt: skip
    backend = pc.SnakemakeBackend()

    defaults = pc.SnakemakeBackendConfig(profile=profile)
    args = backend.snakemake_args(defaults, n_jobs=5)
    assert args[args.index("--profile") + 1] == str(profile)
    for flag in ("--executor", "--jobs", "--latency-wait", "--retries", "--scheduler",
                 "--default-resources"):  # fmt: skip
        assert flag not in args, (
            f"{flag} given although only its default would override the profile"
        )
    assert effective_executor(defaults) == "slurm"
    assert {"--snakefile", "--rerun-incomplete", "--rerun-triggers", "--nocolor", "--cores"} <= set(
        args
    )

    explicit = pc.SnakemakeBackendConfig(profile=profile, executor="slurm", cores=4, latency_wait=5,
                                         retries=0, scheduler="ilp",
                                         executor_settings={"status_attempts": 2},
                                         default_resources={"slurm_partition": "live"})  # fmt: skip
    args = backend.snakemake_args(explicit, n_jobs=5)
    after = dict(zip(args, args[1:], strict=False))
    assert (
        after["--executor"] == "slurm" and after["--jobs"] == "4" and after["--latency-wait"] == "5"
    )
    assert after["--retries"] == "0" and after["--scheduler"] == "ilp"
    assert after["--slurm-status-attempts"] == "2"
    # the profile's default resources are kept, name by name, under the config's
    start = args.index("--default-resources") + 1
    assert args[start : start + 2] == ["slurm_partition=live", "disk_mb=7"]


def test_without_a_profile_the_arguments_are_as_before():
    cfg = pc.SnakemakeBackendConfig(cores=3)
    args = pc.SnakemakeBackend().snakemake_args(cfg, n_jobs=5)
    assert "--profile" not in args
    assert args[args.index("--cores") + 1] == "3" and "--latency-wait" in args
    assert effective_executor(cfg) == "local"


def test_resources_from_the_profile_the_step_and_the_config_reach_snakemake(tmp_path):
    """Snakemake's dry run shows each job's resources: a step's own beat the profile's
    default-resources, the config's default_resources beat the profile's, and the profile's
    set-resources (Snakemake's per-rule override) beats the step's."""
    profile = _profile(tmp_path / "prof", "default-resources:\n  mem_mb: 9999\n  slurm_partition: short\n"
                       "  disk_mb: 7\nset-resources:\n  capped:\n    runtime: 77\n")  # fmt: skip
    plain = pc.FanOut(name="plain", argv=["true"], units=[pc.Unit(id="u0")],
                      resources=pc.Resources(mem_mb=500, runtime_min=3))  # fmt: skip
    capped = pc.FanOut(name="capped", argv=["true"], units=[pc.Unit(id="u0")],
                       resources=pc.Resources(mem_mb=600, runtime_min=3))  # fmt: skip
    cfg = pc.SnakemakeBackendConfig(
        cores=2, profile=profile, default_resources={"slurm_partition": "live"}
    )
    dry = pc.SnakemakeBackend(cfg).dry_run(
        pc.Parallel([plain, capped]), working_dir=tmp_path / "wd"
    )
    assert f"Using profile {profile}" in dry.output
    got = _resources(dry.output, "plain")
    assert (got["mem_mb"], got["runtime"], got["slurm_partition"], got["disk_mb"]) == (
        "500",
        "3",
        "live",
        "7",
    )
    assert _resources(dry.output, "capped")["runtime"] == "77"


def test_a_bundle_asks_for_one_units_memory_and_all_its_units_runtime(tmp_path):
    fan = pc.FanOut(name="work", argv=["true"], units=[pc.Unit(id=f"u{i}") for i in range(10)],
                    resources=pc.Resources(cores=2, mem_mb=700, runtime_min=3))  # fmt: skip
    lone = pc.FanOut(name="lone", argv=["true"], units=[pc.Unit(id="only")],
                     resources=pc.Resources(runtime_min=3))  # fmt: skip
    cfg = pc.SnakemakeBackendConfig(cores=2, units_per_job=4)
    dry = pc.SnakemakeBackend(cfg).dry_run(pc.Parallel([fan, lone]), working_dir=tmp_path / "wd")
    assert dry.jobs == {"work": 3, "lone": 1}  # 4 + 4 + 2 units; a single unit is not bundled
    got = _resources(dry.output, "work")
    assert (got["mem_mb"], got["runtime"]) == ("700", "12")
    assert re.search(r"^rule work:\n(?:\s+.*\n)*?\s+threads: 2$", dry.output, re.M)
    assert _resources(dry.output, "lone")["runtime"] == "3"
    assert "wildcards: unit=only" in dry.output


def test_a_failed_unit_inside_a_bundle_is_named_and_the_others_finish(tmp_path):
    code = "import sys; sys.exit(3) if sys.argv[1] == 'u4' else open(sys.argv[2], 'w').write('x')"
    fan = pc.FanOut(name="packed", argv=[PY, "-c", code, "{unit}", "{output.o}"],
                    units=[pc.Unit(id=f"u{i}") for i in range(6)],
                    outputs={"o": pc.file(str(tmp_path / "out" / "{unit}"))})  # fmt: skip
    backend = pc.SnakemakeBackend(
        pc.SnakemakeBackendConfig(cores=2, units_per_job=3, progress=False)
    )
    handle = backend.run(fan, working_dir=tmp_path / "wd", check=False)
    assert handle.status == "failed"
    assert [(f.rule, f.unit) for f in handle.failed_jobs()] == [("packed", "u4")]
    assert "unit u4" in handle.failure_message()
    jobs = handle.summary()["jobs"]
    assert {j["unit"]: j["status"] for j in jobs} == {
        **{f"u{i}": "succeeded" for i in (0, 1, 2, 3, 5)}, "u4": "failed"}  # fmt: skip
    assert {j["batch"] for j in jobs} == {"batch000000", "batch000001"}
    outputs = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    assert outputs == ["u0", "u1", "u2", "u3", "u5"]
