"""DataConfig: str or Path in, absolute Path (local) or RemotePath (URL) out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from starrynight.config import DataConfig, RemotePath, to_path, write_text_atomic


def test_local_paths_become_absolute_plain_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = DataConfig(
        workspace_path="ws", images_path=tmp_path / "img", scratch_path="file:///tmp/s"
    )
    assert type(config.workspace_path) is type(Path())
    assert config.workspace_path == tmp_path / "ws"
    assert config.images_path == tmp_path / "img"
    assert config.scratch_path == Path("/tmp/s")
    assert config.workspace_path / "index.yaml" == tmp_path / "ws" / "index.yaml"


def test_urls_become_remote_paths_that_join_like_pathlib() -> None:
    config = DataConfig(
        workspace_path="s3://bucket/ws/", images_path="s3://bucket/img", scratch_path="/tmp"
    )
    ws = config.workspace_path
    assert isinstance(ws, RemotePath)
    assert str(ws / "index" / "index.parquet") == "s3://bucket/ws/index/index.parquet"
    assert (ws / "a.txt").name == "a.txt" and (ws / "a.txt").parent == ws
    assert (ws / "x" / "y").relative_to(ws).as_posix() == "x/y"
    assert not config.images_path.is_relative_to(ws)
    assert config.model_dump()["workspace_path"] == "s3://bucket/ws"


def test_bad_values_are_rejected() -> None:
    with pytest.raises(ValidationError, match="workspace_path"):
        DataConfig(workspace_path=3, images_path="/a", scratch_path="/b")
    with pytest.raises(ValueError, match="empty path"):
        to_path("")


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "file.txt"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(target.parent) == ["file.txt"]
    remote = RemotePath("memory://cfgtest/dir/file.txt")
    write_text_atomic(remote, "hello")
    assert remote.exists() and remote.read_text() == "hello"
