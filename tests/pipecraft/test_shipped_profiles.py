"""The example Snakemake profiles shipped in profiles/ (SLURM, AWS Batch, Kubernetes, Google
Batch): pipecraft reads each one, and Snakemake itself parses it, loads its executor and
storage plugins and dry-runs a tiny workflow with it. SLURM's plugin is always installed; a
cloud profile's Snakemake checks are skipped, naming its extra, where that plugin is not.

A cloud profile's dry run asks its default storage whether the workflow's output exists. Here
that storage is an empty object store on 127.0.0.1 (every request is answered 404, as S3 and
Cloud Storage answer for a missing bucket), reached through the storage plugins' endpoint
overrides, with made-up credentials; no cloud service is contacted."""

from __future__ import annotations

import http.server
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

import pipecraft as pc
from pipecraft.backend import effective_executor
from pipecraft.profile import check_resource_names, read_profile, resource_settings

PROFILES_DIR = Path(__file__).resolve().parents[2] / "profiles"

#: profile folder -> (executor it names, the extra that installs its plugins, the modules of
#: those plugins: the executor's, then the storage plugin its default-storage-provider needs)
PROFILES = {
    "slurm": ("slurm", "slurm", ["snakemake_executor_plugin_slurm"]),
    "aws-batch": (
        "aws-batch",
        "aws-batch",
        ["snakemake_executor_plugin_aws_batch", "snakemake_storage_plugin_s3"],
    ),
    "kubernetes": (
        "kubernetes",
        "kubernetes",
        ["snakemake_executor_plugin_kubernetes", "snakemake_storage_plugin_s3"],
    ),
    "googlebatch": (
        "googlebatch",
        "googlebatch",
        ["snakemake_executor_plugin_googlebatch", "snakemake_storage_plugin_gcs"],
    ),
}
CLOUD = ["aws-batch", "kubernetes", "googlebatch"]

# one rule, one output; the dry run shows the job's resources
SNAKEFILE = 'rule all:\n    output: "done.txt"\n    shell: "touch {output}"\n'


def _missing(name: str) -> list[str]:
    return [m for m in PROFILES[name][2] if importlib.util.find_spec(m) is None]


def _needs_plugins(name: str) -> None:
    """Skip a cloud profile's Snakemake checks where its plugins are not installed (SLURM's
    plugin is part of the test environment: its checks always run)."""
    missing = _missing(name)
    if missing and name != "slurm":
        extra = PROFILES[name][1]
        pytest.skip(f"needs the [{extra}] extra (pip install -e '.[{extra}]'): "
                    f"{', '.join(missing)} not importable")  # fmt: skip


class _EmptyStore(http.server.BaseHTTPRequestHandler):
    """An object store holding nothing: every request is recorded and answered 404."""

    requests: list[str]

    def _missing(self) -> None:
        self.requests.append(f"{self.command} {self.path}")
        body = b'{"error": {"code": 404, "message": "Not Found"}}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _missing

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def empty_store() -> Iterator[tuple[str, list[str]]]:
    """The empty object store's URL on a free 127.0.0.1 port, and the requests it got."""
    handler = type("Handler", (_EmptyStore,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()
        server.server_close()


def _store_env(url: str, tmp_path: Path) -> dict[str, str]:
    """The environment that points S3 and Cloud Storage clients at `url` with made-up
    credentials, reading no AWS config of the user's and asking no instance metadata."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GOOGLE_"))}
    return {**env, "AWS_ACCESS_KEY_ID": "AKIAPROFILECHECK0000", "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            "SNAKEMAKE_STORAGE_S3_ENDPOINT_URL": url, "STORAGE_EMULATOR_HOST": url}  # fmt: skip


def _snakemake_dry_run(
    profile: Path, tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`snakemake --profile PROFILE --dry-run` on a one-rule Snakefile, as a user would."""
    wd = tmp_path / "wf"
    wd.mkdir(exist_ok=True)
    (wd / "Snakefile").write_text(SNAKEFILE)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", str(profile), "--dry-run", "--nocolor"],
        cwd=wd, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


def test_every_shipped_profile_is_checked_here():
    shipped = {p.name for p in PROFILES_DIR.iterdir() if p.is_dir()}
    assert shipped == set(PROFILES)
    for name in PROFILES:
        assert (PROFILES_DIR / name / "config.yaml").is_file()


@pytest.mark.parametrize("name", list(PROFILES))
def test_pipecraft_reads_the_profile_and_names_its_executor(name):
    executor, extra, _ = PROFILES[name]
    folder = PROFILES_DIR / name
    assert read_profile(folder)["executor"] == executor
    if _missing(name)[:1] and name != "slurm":
        # without the plugin, pipecraft refuses the profile before Snakemake starts, naming
        # the package
        with pytest.raises(ValidationError, match=f"snakemake-executor-plugin-{executor}"):
            pc.SnakemakeBackendConfig(profile=folder)
        return
    cfg = pc.SnakemakeBackendConfig(profile=folder)
    assert cfg.profile == folder
    assert effective_executor(cfg) == executor
    args = pc.SnakemakeBackend().snakemake_args(cfg, n_jobs=3)
    assert args[args.index("--profile") + 1] == str(folder)
    # the profile's executor, jobs, retries and latency-wait apply: pipecraft passes none
    for flag in ("--executor", "--jobs", "--retries", "--latency-wait", "--default-resources"):
        assert flag not in args


@pytest.mark.parametrize("name", list(PROFILES))
def test_the_profiles_resource_names_are_ones_snakemake_and_the_plugins_know(name):
    file = str(PROFILES_DIR / name / "config.yaml")
    resources = resource_settings(read_profile(PROFILES_DIR / name)["default-resources"], file)
    assert resources
    check_resource_names(resources, file)


@pytest.mark.parametrize("name", CLOUD)
def test_a_cloud_profile_names_the_starrynight_image_and_a_default_storage(name):
    from starrynight.modules.base import DEFAULT_CONTAINER_IMAGE

    settings = read_profile(PROFILES_DIR / name)
    assert settings["container-image"] == DEFAULT_CONTAINER_IMAGE.removeprefix("docker://")
    provider = settings["default-storage-provider"]
    assert settings["default-storage-prefix"].startswith(f"{provider}://")
    # every value a user must fill in is marked
    assert "CHANGE-ME" in (PROFILES_DIR / name / "config.yaml").read_text()


@pytest.mark.parametrize("name", list(PROFILES))
def test_snakemake_parses_and_dry_runs_the_profile(name, tmp_path, empty_store):
    _needs_plugins(name)
    folder = PROFILES_DIR / name
    url, requests = empty_store
    before = len(requests)
    proc = _snakemake_dry_run(folder, tmp_path, _store_env(url, tmp_path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert f"Using profile {folder}" in out
    assert "This was a dry-run" in out
    # the profile's default-resources reached the job
    line = re.search(r"^\s+resources: (.*)$", out, re.M).group(1)
    got = dict(kv.split("=", 1) for kv in line.split(", ") if "=" in kv)
    wanted = resource_settings(read_profile(folder)["default-resources"], name)
    assert {k: got.get(k) for k in wanted} == wanted
    if name in CLOUD:
        # the output was looked up in the profile's default storage, under its prefix
        prefix = read_profile(folder)["default-storage-prefix"]
        bucket = prefix.split("://", 1)[1].split("/", 1)[0]
        assert any(bucket in r for r in requests[before:]), requests[before:]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace("latency-wait:", "latency-wiat:"), "--latency-wiat"),
        (lambda text: text + "slurm-qoss: normal\n", "--slurm-qoss"),
        (lambda text: text.replace("executor: slurm", "executor: slurmm"), "slurmm"),
    ],
    ids=["misspelt option", "misspelt plugin setting", "unknown executor"],
)
def test_the_dry_run_check_catches_a_broken_profile(tmp_path, edit, message):
    """The check above can fail: a copy of the SLURM profile with one key or value wrong is
    refused by Snakemake's parse."""
    copy = tmp_path / "slurm"
    shutil.copytree(PROFILES_DIR / "slurm", copy)
    (copy / "config.yaml").write_text(edit((copy / "config.yaml").read_text()))
    proc = _snakemake_dry_run(copy, tmp_path)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("name", "setting"), [("aws-batch", "aws-batch-region"), ("googlebatch", "googlebatch-project")]
)
def test_a_cloud_profile_without_a_setting_its_plugin_requires_is_refused(
    name, setting, tmp_path, empty_store
):
    _needs_plugins(name)
    copy = tmp_path / name
    shutil.copytree(PROFILES_DIR / name, copy)
    text = (copy / "config.yaml").read_text()
    (copy / "config.yaml").write_text(re.sub(rf"^{setting}:.*\n", "", text, flags=re.M))
    proc = _snakemake_dry_run(copy, tmp_path, _store_env(empty_store[0], tmp_path))
    assert proc.returncode != 0
    assert (
        f"required arguments are missing for plugin {name}: --{setting}"
        in proc.stdout + proc.stderr
    )


def test_pipecraft_dry_runs_a_bundled_fan_out_with_the_slurm_profile(tmp_path):
    """Through pipecraft: the profile's partition and account reach each job, the step's own
    memory and runtime win over the profile's defaults, and units_per_job makes one job (one
    SLURM submission) of several units."""
    fan = pc.FanOut(name="work", argv=["true"], units=[pc.Unit(id=f"u{i}") for i in range(6)],
                    resources=pc.Resources(mem_mb=700, runtime_min=3))  # fmt: skip
    cfg = pc.SnakemakeBackendConfig(profile=PROFILES_DIR / "slurm", units_per_job=3, cores=2)
    dry = pc.SnakemakeBackend(cfg).dry_run(fan, working_dir=tmp_path / "wd")
    assert f"Using profile {PROFILES_DIR / 'slurm'}" in dry.output
    assert dry.jobs == {"work": 2}
    line = re.search(r"^rule work:\n(?:\s+.*\n)*?\s+resources: (.*)$", dry.output, re.M).group(1)
    got = dict(kv.split("=", 1) for kv in line.split(", ") if "=" in kv)
    assert (got["mem_mb"], got["runtime"]) == ("700", "9")
    assert (got["slurm_partition"], got["slurm_account"]) == ("CHANGE-ME", "CHANGE-ME")
