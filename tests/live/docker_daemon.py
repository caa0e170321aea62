"""A real Docker daemon for the live tests, started and stopped by the test session.

`dockerd` runs with vfs storage and no networking setup of its own (no iptables, no
bridge: this machine kind allows neither), its exec root, pid file and unix socket in a
temporary folder. Clients reach it through DOCKER_HOST. The project image is then built
into it by scripts/build_image.sh.

Its data root (images and layers) is kept in $STARRYNIGHT_IMAGE_CACHE/docker-data (default
~/.cache/starrynight), locked for one daemon at a time: the next session on this machine
finds the image and rebuilds it only when its sources changed (build_image.sh compares a
label). A fresh machine builds everything, debootstrap included.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"dockerd": "docker.io", "docker": "docker.io", "debootstrap": "debootstrap"}


@dataclass(frozen=True)
class DockerDaemon:
    """A running dockerd: the DOCKER_HOST clients use, its state folder and the built image."""

    host: str
    state: Path
    image: str
    build_seconds: float

    def env(self) -> dict[str, str]:
        """The environment for a client of this daemon."""
        return {**os.environ, "DOCKER_HOST": self.host}


def ensure_installed() -> None:
    """Install dockerd, the docker client and debootstrap with apt if one is missing."""
    missing = sorted({pkg for tool, pkg in PACKAGES.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        pytest.skip(f"{', '.join(missing)} not installed and not root to apt-get install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env,
                   capture_output=True)  # fmt: skip


def _wait_ready(host: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    env = {**os.environ, "DOCKER_HOST": host}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dockerd exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        ok = subprocess.run(["docker", "version"], env=env, capture_output=True)
        if ok.returncode == 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"dockerd not ready after {timeout} s:\n{log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[DockerDaemon]:
    """Start dockerd in a temporary folder, build the project image, stop dockerd at the end."""
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    ensure_installed()
    cache = Path(os.environ.get("STARRYNIGHT_IMAGE_CACHE", Path.home() / ".cache" / "starrynight"))
    cache.mkdir(parents=True, exist_ok=True)
    lock = open(cache / "docker-data.lock", "w")  # noqa: SIM115  (held for the session)
    fcntl.flock(lock, fcntl.LOCK_EX)
    state = Path(tempfile.mkdtemp(prefix="sn-dockerd-"))  # short: the socket path is capped
    host = f"unix://{state}/docker.sock"
    log = state / "dockerd.log"
    argv = ["dockerd", "--storage-driver=vfs", "--iptables=false", "--bridge=none",
            f"--data-root={cache}/docker-data", f"--exec-root={state}/exec",
            f"--pidfile={state}/dockerd.pid", "-H", host]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        _wait_ready(host, proc, log)
        env = {**os.environ, "DOCKER_HOST": host}
        start = time.monotonic()
        built = subprocess.run(["bash", str(ROOT / "scripts" / "build_image.sh")], env=env,
                               capture_output=True, text=True)  # fmt: skip
        if built.returncode != 0:
            raise RuntimeError(f"scripts/build_image.sh failed:\n{built.stdout}{built.stderr}")
        from starrynight.modules.base import DEFAULT_CONTAINER_IMAGE

        image = DEFAULT_CONTAINER_IMAGE.removeprefix("docker://")
        yield DockerDaemon(host=host, state=state, image=image,
                           build_seconds=time.monotonic() - start)  # fmt: skip
    finally:
        _stop(proc)
        subprocess.run(["umount", "-R", "-l", str(state / "exec")], capture_output=True)
        shutil.rmtree(state, ignore_errors=True)
        lock.close()
