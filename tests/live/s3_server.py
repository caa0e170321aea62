"""A real S3-speaking server for the live tests: moto in server mode on 127.0.0.1.

It speaks the S3 HTTP API (signed requests, multipart, paginated listings) to any client;
s3fs reaches it through `endpoint_url`. Started on a free port for the test session and
stopped at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

#: made-up credentials; the server accepts any, and the tests look for them in every output
ACCESS_KEY_ID = "AKIASTARRYNIGHTLIVE7"
SECRET_ACCESS_KEY = "sn-live-secret-4f0c9e1d2b7a6358"


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint and the credentials that sign requests to it."""

    endpoint_url: str
    key: str = ACCESS_KEY_ID
    secret: str = SECRET_ACCESS_KEY

    def storage_options(self) -> dict[str, str]:
        """fsspec/s3fs options for this server."""
        return {"endpoint_url": self.endpoint_url, "key": self.key, "secret": self.secret}

    def filesystem(self):  # -> s3fs.S3FileSystem
        """A fresh s3fs filesystem talking to this server."""
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on a free 127.0.0.1 port, for the whole session."""
    pytest.importorskip("moto.server", reason="moto[server] is a dev dependency (scripts/setup.sh)")
    port = _free_port()
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto server exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto server did not answer within 60 s") from None
                time.sleep(0.2)
        yield S3Server(endpoint_url=url)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
