"""The container image the modules name is the one the repository's Dockerfile builds.

No Docker engine runs on this machine, so the image itself is not built here; these checks
keep the recipe and the code that names the image from drifting apart.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from starrynight.modules.base import DEFAULT_CONTAINER_IMAGE

ROOT = Path(__file__).resolve().parent.parent


def test_default_image_is_tagged_with_the_project_version_and_built_by_the_dockerfile():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert DEFAULT_CONTAINER_IMAGE == f"docker://starrynight/starrynight:{version}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"docker build -t {DEFAULT_CONTAINER_IMAGE.removeprefix('docker://')} ." in dockerfile


def test_everything_the_dockerfile_copies_exists_and_setup_is_what_it_runs():
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = [src for line in dockerfile.splitlines() if line.startswith("COPY ")
              for src in line.split()[1:-1]]
    assert copied, "the Dockerfile copies nothing"
    for src in copied:
        assert (ROOT / src).exists(), f"Dockerfile copies {src}, which is not in the repository"
    assert re.search(r"bash scripts/setup\.sh", dockerfile)
