"""A real single-node SLURM cluster for the live tests, with accounting, in a temporary folder.

Debian's packages are installed when missing (`slurm-wlm`, `slurmdbd`, `munge`,
`mariadb-server`). Every daemon (munged, MariaDB, slurmdbd, slurmctld, slurmd) runs as root
from configuration and state under one folder, on free loopback ports and private sockets,
so nothing of the machine's own is used or changed; `stop()` ends each one it started.
Clients (`sbatch`, `sacct`, Snakemake's SLURM executor) find the cluster through
`SLURM_CONF`, which `env()` gives.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "slurmdbd", "munge", "mariadb-server")
COMMANDS = ("slurmctld", "slurmd", "slurmdbd", "munged", "mariadbd", "mariadb-install-db")
CLUSTER = "starrynight"
PARTITION = "live"
NODE_MEMORY_MB = 8000
DB_USER, DB_PASSWORD = "slurm", "live-test-only"
DEFAULT_MUNGE_SOCKET = Path("/run/munge/munge.socket.2")


class ClusterError(RuntimeError):
    """The test cluster could not be installed or started; the message says which part."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install() -> None:
    """Install the Debian packages when a daemon is missing (without starting services)."""
    if all(shutil.which(c) for c in COMMANDS):
        return
    policy = Path("/usr/sbin/policy-rc.d")
    created = not policy.exists()
    if created:  # packages must not start the machine's own services
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for argv in (["apt-get", "update", "-qq"],
                     ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]):  # fmt: skip
            done = subprocess.run(argv, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise ClusterError(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
    finally:
        if created:
            policy.unlink()


def _wait(what: str, ready, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-1500:] if log and log.exists() else ""
    raise ClusterError(f"{what} did not become ready within {timeout:g} s\n{tail}")


def _munge_answers() -> bool:
    """Does a munged answer on the default socket?"""
    if not DEFAULT_MUNGE_SOCKET.exists():
        return False
    return subprocess.run(["munge", "-n"], capture_output=True).returncode == 0


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class SlurmCluster:
    """munged + MariaDB + slurmdbd + slurmctld + slurmd under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.root / "etc" / "slurm.conf"
        # SLURM's clients reach munge at its default socket (AuthInfo does not reach them all)
        self.munge_socket = DEFAULT_MUNGE_SOCKET
        self._procs: list[tuple[str, subprocess.Popen]] = []

    # -- public -----------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """What a client of this cluster needs in its environment."""
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *argv: str, check: bool = True) -> str:
        """A SLURM client command against this cluster; its stdout."""
        done = subprocess.run(list(argv), env={**os.environ, **self.env()},
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        if check and done.returncode != 0:
            raise ClusterError(f"{' '.join(argv)}: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> SlurmCluster:
        install()
        for sub in ("etc", "munge", "mysql", "dbd", "ctld", "spool", "log", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        try:
            self._start_munge()
            db_port = self._start_mariadb()
            dbd_port = self._start_slurmdbd(db_port)
            self._write_slurm_conf(dbd_port)
            self.run("sacctmgr", "-i", "add", "cluster", CLUSTER)
            self._start_slurm()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every daemon this cluster started (all run in the foreground), newest first."""
        for _, proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        link = Path("/run/slurm/conf")  # slurmd's pointer to its configless copy
        if link.is_symlink() and str(os.readlink(link)).startswith(str(self.root)):
            link.unlink()

    # -- daemons ----------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.root / "log" / f"{name}.out", "wb")  # noqa: SIM115 - lives with the daemon
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env={**os.environ, **self.env()})  # fmt: skip
        self._procs.append((name, proc))
        return proc

    def _start_munge(self) -> None:
        """A munged of our own, unless one already serves the default socket (then use it)."""
        if _munge_answers():
            return
        self.munge_socket.parent.mkdir(parents=True, exist_ok=True)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        pidfile = self.root / "run" / "munged.pid"
        self._spawn("munged", ["munged", "--foreground", "--force", f"--key-file={key}",
                               f"--socket={self.munge_socket}", f"--pid-file={pidfile}",
                               f"--log-file={self.root / 'log' / 'munged.log'}",
                               f"--seed-file={self.root / 'munge' / 'seed'}"])  # fmt: skip
        _wait("munged", _munge_answers, 20, self.root / "log" / "munged.out")

    def _start_mariadb(self) -> int:
        data, sock, port = self.root / "mysql", self.root / "run" / "mysql.sock", _free_port()
        init = subprocess.run(["mariadb-install-db", f"--datadir={data}", "--user=root",
                               "--auth-root-authentication-method=socket", "--skip-test-db"],
                              capture_output=True, text=True)  # fmt: skip
        if init.returncode != 0:
            raise ClusterError(f"mariadb-install-db failed: {init.stderr.strip()[-500:]}")
        self._spawn("mariadb", ["mariadbd", "--no-defaults", f"--datadir={data}", "--user=root",
                                f"--socket={sock}", f"--port={port}", "--bind-address=127.0.0.1",
                                f"--pid-file={self.root / 'run' / 'mysql.pid'}",
                                "--innodb-buffer-pool-size=64M", "--skip-name-resolve"])  # fmt: skip
        _wait(
            "MariaDB",
            lambda: sock.exists() and _listening(port),
            60,
            self.root / "log" / "mariadb.out",
        )
        sql = (f"CREATE USER '{DB_USER}'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}'; "
               f"GRANT ALL ON *.* TO '{DB_USER}'@'127.0.0.1'; FLUSH PRIVILEGES;")  # fmt: skip
        done = subprocess.run(["mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "-e", sql],
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            raise ClusterError(
                f"creating the accounting database user failed: {done.stderr.strip()}"
            )
        return port

    def _auth(self) -> str:
        return f"AuthType=auth/munge\nAuthInfo=socket={self.munge_socket}\n"

    def _start_slurmdbd(self, db_port: int) -> int:
        port = _free_port()
        conf = self.root / "etc" / "slurmdbd.conf"
        conf.write_text(
            self._auth() + f"DbdHost=localhost\nDbdPort={port}\nSlurmUser=root\n"
            f"PidFile={self.root / 'run' / 'slurmdbd.pid'}\n"
            f"LogFile={self.root / 'log' / 'slurmdbd.log'}\n"
            "StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\n"
            f"StoragePort={db_port}\nStorageUser={DB_USER}\nStoragePass={DB_PASSWORD}\n"
            "StorageLoc=slurm_acct_db\n"
        )
        conf.chmod(0o600)
        self._spawn("slurmdbd", ["slurmdbd", "-D"])  # reads slurmdbd.conf beside SLURM_CONF
        _wait("slurmdbd", lambda: _listening(port), 60, self.root / "log" / "slurmdbd.log")
        return port

    def _write_slurm_conf(self, dbd_port: int) -> None:
        self.ctld_port, slurmd_port = _free_port(), _free_port()
        self.conf.write_text(
            f"ClusterName={CLUSTER}\nSlurmctldHost={self.host}\nSlurmUser=root\n"
            + self._auth()
            + f"SlurmctldPort={self.ctld_port}\nSlurmdPort={slurmd_port}\n"
            # configless: job steps (srun inside a job) read slurmd's copy of this file
            "SlurmctldParameters=enable_configless\n"
            f"StateSaveLocation={self.root / 'ctld'}\nSlurmdSpoolDir={self.root / 'spool'}\n"
            f"SlurmctldPidFile={self.root / 'run' / 'slurmctld.pid'}\n"
            f"SlurmdPidFile={self.root / 'run' / 'slurmd.pid'}\n"
            f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}\n"
            f"SlurmdLogFile={self.root / 'log' / 'slurmd.log'}\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nMpiDefault=none\n"
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core_Memory\n"
            "SchedulerType=sched/backfill\nReturnToService=2\n"
            # accounting, for sacct; memory limits enforced by the accounting sampler
            "AccountingStorageType=accounting_storage/slurmdbd\n"
            f"AccountingStorageHost=localhost\nAccountingStoragePort={dbd_port}\n"
            "JobAcctGatherType=jobacct_gather/linux\nJobAcctGatherFrequency=1\n"
            "JobAcctGatherParams=OverMemoryKill\n"
            "MinJobAge=600\nKillWait=5\nInactiveLimit=0\nSlurmdTimeout=60\n"
            f"NodeName={self.host} CPUs={os.cpu_count() or 2} RealMemory={NODE_MEMORY_MB} State=UNKNOWN\n"
            f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
        )

    def _start_slurm(self) -> None:
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "--conf-server", f"{self.host}:{self.ctld_port}"])

        def idle() -> bool:
            state = self.run("sinfo", "-h", "-N", "-o", "%t", check=False).split()
            return bool(state) and state[0] in ("idle", "mix", "alloc")

        _wait("slurmctld and slurmd", idle, 90, self.root / "log" / "slurmctld.log")
