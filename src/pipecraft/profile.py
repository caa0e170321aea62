"""Snakemake profiles: a folder whose `config.yaml` (or `profile.yaml`) holds Snakemake
command-line settings, one key per long option (`executor: slurm` is `--executor slurm`).

pipecraft passes the folder to Snakemake as `--profile` and reads the file itself only to
know which settings the profile makes, so that its own defaults do not override them (see
`SnakemakeBackend.snakemake_args`).
"""

from __future__ import annotations

import difflib
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

#: the names Snakemake looks for in a profile folder: profile.yaml or config.yaml, optionally
#: with the lowest Snakemake major version they are for (config.v8+.yaml)
PROFILE_FILE = re.compile(r"(?:profile|config)(?:\.v(\d+)\+)?\.yaml")


def _snakemake_major() -> int:
    try:
        return int(metadata.version("snakemake").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return 0


def profile_file(folder: str | Path) -> Path:
    """The file of the profile folder that Snakemake reads (the one for the newest Snakemake
    version that is not newer than the installed one); ValueError naming the folder if there
    is none."""
    path = Path(folder).expanduser()
    if not path.exists():
        raise ValueError(f"Snakemake profile folder {path} does not exist")
    if not path.is_dir():
        raise ValueError(f"Snakemake profile {path} is not a folder (give the folder holding "
                         "its config.yaml)")  # fmt: skip
    major = _snakemake_major()
    found = {}
    for child in path.iterdir():
        m = PROFILE_FILE.fullmatch(child.name)
        if m and child.is_file() and int(m.group(1) or 0) <= major:
            found[child] = int(m.group(1) or 0)
    if not found:
        raise ValueError(f"Snakemake profile folder {path} has no config.yaml (nor profile.yaml)")
    return max(found, key=lambda p: (found[p], p.name.startswith("profile")))


def read_profile(folder: str | Path) -> dict[str, Any]:
    """The profile's settings with keys as Snakemake's long options (`latency-wait`);
    ValueError naming the file if it is not a YAML mapping."""
    file = profile_file(folder)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read Snakemake profile {file}: {err}") from None
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise ValueError(f"Snakemake profile {file} is not valid YAML{at}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"Snakemake profile {file}: expected a mapping of settings")
    return {str(k).replace("_", "-"): v for k, v in raw.items() if v is not None}


def resource_settings(value: Any, file: str) -> dict[str, str]:
    """A profile's `default-resources` (a mapping, or a list of `name=value`) as a mapping."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list) and all(isinstance(i, str) and "=" in i for i in items):
        return dict(i.split("=", 1) for i in items)
    raise ValueError(f"Snakemake profile {file}: default-resources must be a mapping or a list "
                     f"of name=value, got {value!r}")  # fmt: skip


#: resource names Snakemake, its storage and its executor plugins (SLURM, Kubernetes, AWS
#: Batch, Google Batch) give a meaning; any other name is a user-defined resource
KNOWN_RESOURCES = frozenset({
    "mem", "mem_mb", "mem_mib", "disk", "disk_mb", "disk_mib", "runtime", "tmpdir", "threads",
    "_cores", "_nodes", "gpu", "gpu_model", "slurm_partition", "slurm_account", "slurm_extra",
    "cpus_per_task", "tasks", "tasks_per_node", "nodes", "constraint", "qos", "clusters", "gres",
    "mpi", "mem_mb_per_cpu", "kubernetes_memory_limit_mb", "machine_type", "gpu_manufacturer",
    "nvidia_gpu",
    # Google Batch takes each of its settings per job from the resource googlebatch_<setting>
    *(f"googlebatch_{setting}" for setting in (
        "memory", "cpu_milli", "machine_type", "image_family", "image_project", "container",
        "boot_disk_gb", "boot_disk_type", "boot_disk_image", "max_run_duration", "retry_count",
        "work_tasks", "work_tasks_per_node", "bucket", "mount_path", "labels", "network",
        "subnetwork", "service_account", "project", "region", "snippets", "docker_username",
        "docker_password",
    )),
})  # fmt: skip


def check_resource_names(names: Any, where: str = "") -> None:
    """ValueError for a resource name one typo away from a known one (`mem_mbb`): Snakemake
    would take it as a new resource and quietly ignore the intended limit."""
    for name in names:
        if name in KNOWN_RESOURCES:
            continue
        close = difflib.get_close_matches(str(name), KNOWN_RESOURCES, n=1, cutoff=0.8)
        if close:
            raise ValueError(f"{where}{': ' if where else ''}resource {name!r} is not one Snakemake "
                             f"knows; did you mean {close[0]!r}? (other names are user-defined "
                             "resources)")  # fmt: skip
