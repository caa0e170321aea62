"""Locating CellProfiler's Python: env override, shebangs (plain and pip's /bin/sh form)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from starrynight.cellprofiler.errors import CellProfilerNotFound
from starrynight.cellprofiler.locate import (
    ENV_VAR,
    _python_from_script,
    cellprofiler_python,
    cellprofiler_version,
)


def test_env_override_must_be_executable(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing-python"))
    with pytest.raises(CellProfilerNotFound, match=ENV_VAR):
        cellprofiler_python()
    monkeypatch.setenv(ENV_VAR, sys.executable)
    assert str(cellprofiler_python()) == sys.executable


def test_shebang_forms(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("#!/opt/cpvenv/bin/python3.11\nimport sys\n")
    assert str(_python_from_script(plain)) == "/opt/cpvenv/bin/python3.11"
    long = tmp_path / "long"
    long.write_text("#!/bin/sh\n'''exec' '/very long/bin/python' \"$0\" \"$@\"\n' '''\n")
    assert str(_python_from_script(long)) == "/very long/bin/python"


def test_installed_cellprofiler_is_found_without_override(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert (cellprofiler_python().parent / "cellprofiler").exists()


def test_the_installed_cellprofiler_version_is_the_pinned_one(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    script = Path(__file__).resolve().parents[2] / "scripts" / "install_cellprofiler.sh"
    pinned = re.search(r'^CP_VERSION="?([^"\s]+)"?', script.read_text(), re.M).group(1)
    assert cellprofiler_version(cellprofiler_python()) == pinned
    assert cellprofiler_version(tmp_path / "bin" / "python") == "unknown"  # no environment there
