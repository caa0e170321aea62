"""The backend fixture for the pipecraft tests."""

from __future__ import annotations

import pytest

import pipecraft as pc


@pytest.fixture

def backend() -> pc.SnakemakeBackend:
    return pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2))
