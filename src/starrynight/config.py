"""Where a screen's data lives: `DataConfig` and the one path abstraction for local and object stores.

Local paths stay plain `pathlib.Path` (absolute). Object-store URLs (`s3://`, `gs://`,
`memory://`, ...) become `RemotePath`, a small fsspec-backed path that supports the same `/`
joins, so code written as `data_config.workspace_path / "x"` works for both. `s3://` needs
the optional extra `pip install 'starrynight[s3]'` (s3fs).
"""

from __future__ import annotations

import json
import os
import posixpath
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, model_validator

# protocol -> the optional extra of this package that installs its fsspec implementation
EXTRAS = {"s3": "s3", "s3a": "s3"}


#: fsspec protocols whose paths are absolute file-system paths (`local:///data/screen`)
ABSOLUTE_PATH_PROTOCOLS = frozenset({"local"})


class RemotePath:
    """An fsspec URL with pathlib-like joins and the few file operations the steps need.

    `storage_options` are passed to `fsspec.filesystem` (e.g. `endpoint_url`); paths joined
    from this one keep them. They are not part of the URL: equality and `str()` ignore them.
    """

    __slots__ = ("_protocol", "_path", "_options")

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        protocol, sep, rest = str(url).partition("://")
        if not sep or not protocol:
            raise ValueError(f"not a URL with a protocol: {url!r}")
        self._protocol = protocol.lower()
        rest = posixpath.normpath("/" + rest.lstrip("/")) if rest else ""
        # bucket-style stores address "bucket/key"; fsspec's local:// takes an absolute path
        self._path = rest if self._protocol in ABSOLUTE_PATH_PROTOCOLS else rest.lstrip("/")
        self._options = dict(storage_options or {})

    # --- identity -----------------------------------------------------------------------
    @property
    def protocol(self) -> str:
        return self._protocol

    @property
    def path(self) -> str:
        """The location as fsspec expects it (no protocol prefix)."""
        return self._path

    @property
    def storage_options(self) -> dict[str, Any]:
        return dict(self._options)

    def __str__(self) -> str:
        return f"{self._protocol}://{self._path}"

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    # --- pathlib-like joins -----------------------------------------------------------
    def __truediv__(self, part: str | os.PathLike[str]) -> RemotePath:
        part = os.fspath(part)
        joined = posixpath.join(self._path, part.lstrip("/")) if self._path else part
        return RemotePath(f"{self._protocol}://{joined}", self._options)

    @property
    def name(self) -> str:
        return posixpath.basename(self._path)

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.name)[1]

    @property
    def parent(self) -> RemotePath:
        return RemotePath(f"{self._protocol}://{posixpath.dirname(self._path)}", self._options)

    def relative_to(self, other: RemotePath) -> Path:
        if not self.is_relative_to(other):
            raise ValueError(f"{self} is not inside {other}")
        return Path(posixpath.relpath(self._path, other._path))

    def is_relative_to(self, other: object) -> bool:
        if not isinstance(other, RemotePath) or other._protocol != self._protocol:
            return False
        return self._path == other._path or self._path.startswith(other._path.rstrip("/") + "/")

    # --- file operations -------------------------------------------------------------
    @property
    def fs(self) -> Any:
        import fsspec

        try:
            return fsspec.filesystem(self._protocol, **self._options)
        except ImportError as error:
            extra = EXTRAS.get(self._protocol)
            hint = f"; install it with: pip install 'starrynight[{extra}]'" if extra else ""
            raise ValueError(f"cannot open {self}: {error}{hint}") from error
        except ValueError as error:
            raise ValueError(f"cannot open {self}: {error}") from error

    def exists(self) -> bool:
        return bool(self.fs.exists(self._path))

    def is_file(self) -> bool:
        return bool(self.fs.isfile(self._path))

    def is_dir(self) -> bool:
        return bool(self.fs.isdir(self._path))

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        self.fs.makedirs(self._path, exist_ok=True)

    def open(self, mode: str = "rb") -> IO[Any]:
        return self.fs.open(self._path, mode)

    def read_bytes(self) -> bytes:
        return bytes(self.fs.cat_file(self._path))

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        self.fs.pipe_file(self._path, data)


AnyPath = Path | RemotePath


def to_path(
    value: str | os.PathLike[str] | RemotePath, storage_options: dict[str, Any] | None = None
) -> AnyPath:
    """Turn user input into a Path (absolute, local) or a RemotePath (URL).

    `storage_options` go to a URL's fsspec filesystem (they replace a RemotePath's own).
    """
    if isinstance(value, RemotePath):
        return value if storage_options is None else RemotePath(str(value), storage_options)
    text = os.fspath(value) if not isinstance(value, str) else value
    if not text:
        raise ValueError("empty path")
    if text.startswith("file://"):
        return Path(text[len("file://") :]).expanduser().resolve()
    if "://" in text:
        return RemotePath(text, storage_options)
    return Path(text).expanduser().resolve()


def _validate(value: Any) -> AnyPath:
    if not isinstance(value, str | os.PathLike | RemotePath):
        raise ValueError(f"expected a path or URL, got {type(value).__name__}")
    return to_path(value)


PathField = Annotated[Any, BeforeValidator(_validate), PlainSerializer(str, return_type=str)]


class DataConfig(BaseModel):
    """The three locations of a screen: the workspace (outputs), the raw images, scratch space.

    Each is a local path (str or Path, made absolute) or an fsspec URL (`s3://bucket/x`, ...;
    `s3://` needs `pip install 'starrynight[s3]'`).

    `storage_options` (optional dict) are passed to fsspec for every URL of this config, e.g.
    `{"endpoint_url": "https://minio.example.org:9000"}` for an S3-compatible server, or
    `{"anon": True}` for a public bucket. Keep secrets out of it (it is saved with the config);
    credentials come from the usual environment / credential files of the store. Steps that run
    as separate commands get only the URLs: they read fsspec's own configuration (environment
    variables such as `FSSPEC_S3_ENDPOINT_URL`, or `~/.config/fsspec`); run them inside
    `job_environment(config)` to hand them this config's `storage_options` that way.
    """

    model_config = ConfigDict(frozen=True)

    workspace_path: PathField
    images_path: PathField
    scratch_path: PathField
    storage_options: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _urls_carry_storage_options(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("storage_options"):
            return data
        options = data["storage_options"]
        if not isinstance(options, dict):
            return data  # the field's own validation names the problem
        data = dict(data)
        for name in ("workspace_path", "images_path", "scratch_path"):
            value = data.get(name)
            if isinstance(value, RemotePath) or (isinstance(value, str) and "://" in value):
                if not str(value).startswith("file://"):
                    data[name] = to_path(value, options)
        return data

    @model_validator(mode="after")
    def _images_stay_read_only(self) -> DataConfig:
        for name in ("workspace_path", "scratch_path"):
            refuse_inside_images(name, getattr(self, name), self.images_path)
        return self

    @model_validator(mode="after")
    def _workspace_is_not_scratch(self) -> DataConfig:
        """Scratch holds run folders and may be deleted; the results must not go with it."""
        workspace, scratch = self.workspace_path, self.scratch_path
        same = workspace == scratch if isinstance(workspace, RemotePath) or isinstance(scratch, RemotePath) \
            else Path(workspace).resolve() == Path(scratch).resolve()  # fmt: skip
        if same:
            raise ValueError(
                f"workspace_path {workspace} is the scratch folder; scratch holds run folders and "
                "may be deleted, so the results must not live there: give the workspace its own folder"
            )
        return self


def storage_environment(config: DataConfig) -> dict[str, str]:
    """The environment that gives separate job processes this config's `storage_options`.

    fsspec reads `FSSPEC_<PROTOCOL>` (a JSON object of options) when it is imported, so each
    job opens its URLs as this process does. Environment, not argv: options that hold
    credentials never reach a command line, a Snakefile, a job table or a log.
    """
    if not config.storage_options:
        return {}
    locations = (config.workspace_path, config.images_path, config.scratch_path)
    protocols = sorted({p.protocol for p in locations if isinstance(p, RemotePath)})
    options = json.dumps(config.storage_options)
    return {f"FSSPEC_{protocol.upper()}": options for protocol in protocols}


@contextmanager
def job_environment(config: DataConfig) -> Iterator[None]:
    """Within this block, jobs started by this process inherit `storage_environment(config)`."""
    env = storage_environment(config)
    before = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class LocationError(ValueError):
    """A DataConfig location cannot be used (images missing, workspace a file, not writable)."""


def check_locations(config: DataConfig) -> None:
    """Before a run: the images folder exists, the workspace and scratch are writable folders.

    Local paths only (an object store reports its own errors on first access). The workspace
    and scratch folders are created if missing.
    """
    images = config.images_path
    if isinstance(images, Path):
        if not images.exists():
            raise LocationError(f"images_path {images} does not exist")
        if not images.is_dir():
            raise LocationError(f"images_path {images} is not a folder")
    for name in ("workspace_path", "scratch_path"):
        path = getattr(config, name)
        if not isinstance(path, Path):
            continue
        blocker = next((p for p in (path, *path.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            if blocker == path:
                raise LocationError(f"{name} {path} is a file, not a folder")
            raise LocationError(f"{name} {path} cannot be created: {blocker} is a file")
        try:
            path.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError as error:
            raise LocationError(
                f"{name} {path} is not writable: {error.strerror or error}"
            ) from None


def _same_or_inside(path: AnyPath, folder: AnyPath) -> bool:
    if isinstance(path, RemotePath) or isinstance(folder, RemotePath):
        return isinstance(path, RemotePath) and path.is_relative_to(folder)
    return path.resolve().is_relative_to(folder.resolve())


def refuse_inside_images(name: str, path: AnyPath, images: AnyPath) -> None:
    """ValueError if `path` (what `name` sets) is the images folder or inside it: the images
    tree is read-only to StarryNight."""
    if _same_or_inside(path, images):
        where = "is the images folder" if path == images else "is inside the images folder"
        raise ValueError(
            f"{name} {path} {where} {images}; the images tree is read-only to "
            f"StarryNight: put the {name.removesuffix('_path')} beside it"
        )


def write_bytes_atomic(path: AnyPath, data: bytes) -> None:
    """Write a file so readers never see half of it (temp file + rename; object PUTs are atomic)."""
    if isinstance(path, RemotePath):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are for colleagues too
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: AnyPath, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_parquet_atomic(frame: Any, path: AnyPath, metadata: dict[str, str] | None = None) -> None:
    """Write a polars frame as parquet atomically (see `write_bytes_atomic`)."""
    import io

    buffer = io.BytesIO()
    frame.write_parquet(buffer, metadata=metadata)
    write_bytes_atomic(path, buffer.getvalue())


def read_parquet(path: AnyPath, columns: list[str] | None = None) -> Any:
    """Read a parquet table from a local path or an object-store URL."""
    import polars as pl

    if isinstance(path, RemotePath):
        with path.open("rb") as handle:
            return pl.read_parquet(handle, columns=columns)
    return pl.read_parquet(path, columns=columns)


def read_parquet_metadata(path: AnyPath) -> dict[str, str]:
    """The custom key/value metadata of a parquet file."""
    import polars as pl

    if isinstance(path, RemotePath):
        with path.open("rb") as handle:
            return dict(pl.read_parquet_metadata(handle))
    return dict(pl.read_parquet_metadata(path))
