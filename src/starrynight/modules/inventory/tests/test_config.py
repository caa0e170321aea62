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


def test_storage_options_reach_fsspec(monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec

    options = {"endpoint_url": "http://minio.local:9000", "client_kwargs": {"region_name": "x"}}
    config = DataConfig(
        workspace_path="memory://optstest/ws",
        images_path="memory://optstest/images",
        scratch_path="/tmp",
        storage_options=options,
    )
    assert config.storage_options == options
    assert isinstance(config.scratch_path, Path)  # local paths are untouched
    target = config.workspace_path / "deep" / "file.txt"
    assert target.storage_options == options and target.parent.storage_options == options
    calls: list[tuple[str, dict[str, object]]] = []
    real = fsspec.filesystem

    def spy(protocol: str, **kwargs: object) -> object:
        calls.append((protocol, kwargs))
        return real(protocol, **kwargs)

    monkeypatch.setattr(fsspec, "filesystem", spy)
    write_text_atomic(target, "hello")
    assert target.read_text() == "hello"
    assert calls and all(call == ("memory", options) for call in calls)
    assert target.fs.storage_options == options  # the memory filesystem got them too
    assert config.images_path.fs.storage_options == options
    again = DataConfig(**config.model_dump())  # the options round-trip with the config
    assert (again.workspace_path / "x").storage_options == options
    plain = DataConfig(workspace_path="memory://optstest/ws", images_path="/a", scratch_path="/b")
    assert plain.storage_options is None and plain.workspace_path.storage_options == {}


def test_missing_s3fs_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec

    def no_s3fs(protocol: str, **kwargs: object) -> object:
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(fsspec, "filesystem", no_s3fs)
    with pytest.raises(ValueError, match=r"pip install 'starrynight\[s3\]'"):
        RemotePath("s3://bucket/images").exists()
    with pytest.raises(ValueError, match="cannot open gs://b: Install") as info:
        RemotePath("gs://b").exists()
    assert "starrynight[" not in str(info.value)


def test_s3_extra_is_declared() -> None:
    import tomllib

    pyproject = Path(__file__).parents[5] / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("not a source checkout")
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("s3fs") for req in extras["s3"])


def test_bucket_urls_and_local_urls_keep_their_form(tmp_path: Path) -> None:
    bucket = to_path("s3://bucket//screen/./images/")
    assert str(bucket) == "s3://bucket/screen/images" and bucket.path == "bucket/screen/images"
    local = to_path(f"local://{tmp_path}/images")
    assert str(local) == f"local://{tmp_path}/images" and local.path == f"{tmp_path}/images"
    assert str(local / "Plate1") == f"local://{tmp_path}/images/Plate1"
    assert str(local.parent) == f"local://{tmp_path}"


def test_module_specs_take_urls(tmp_path: Path) -> None:
    from starrynight.modules.inventory import GenInvModule

    config = DataConfig(workspace_path=tmp_path / "ws", images_path="s3://bucket/screen",
                        scratch_path=tmp_path / "scratch")
    module = GenInvModule.from_config(config)
    assert module.spec.inputs["images"] == RemotePath("s3://bucket/screen")
    assert module.pipeline.argv[module.pipeline.argv.index("--images") + 1] == "s3://bucket/screen"
