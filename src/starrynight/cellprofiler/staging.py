"""Copy the remote images a LoadData CSV names to local disk, so CellProfiler can read them.

CellProfiler and its readers open local files. When a screen's images live in an object
store, the LoadData CSVs hold URLs in their `PathName_*` columns (`s3://bucket/...`); the
runner then copies the files of one unit of work into a scratch folder beside the unit's
output and runs CellProfiler on a copy of the CSV that points there. Local paths are left
as they are. URLs are opened with fsspec, so its usual settings apply (credentials, and
e.g. `FSSPEC_S3_ENDPOINT_URL` for an S3-compatible server).
"""

from __future__ import annotations

import csv
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starrynight.cellprofiler.errors import CellProfilerError

PATH_PREFIX, FILE_PREFIX = "PathName_", "FileName_"


class StagingError(CellProfilerError):
    """A remote image could not be copied to local disk."""


def _is_url(path: str) -> bool:
    return "://" in path


def _download(url: str, target: Path) -> str | None:
    """Copy one URL to `target` (atomically); the error text if it failed."""
    import fsspec

    partial = target.with_name(f".{target.name}.part")
    try:
        fs, path = fsspec.core.url_to_fs(url)
        fs.get_file(path, str(partial))
        os.replace(partial, target)
    except Exception as error:  # any backend's error: reported with its URL
        partial.unlink(missing_ok=True)
        return f"{url}: {type(error).__name__}: {error}"
    return None


def stage_loaddata(data_file: Path, stage_dir: Path, workers: int = 8) -> tuple[Path, int]:
    """The CSV to run on and how many files were copied.

    Without URLs in the CSV nothing is copied and `data_file` itself is returned. Otherwise
    each remote folder gets its own local folder under `stage_dir` (named by a hash of the
    URL, so equal file names in different folders do not collide) and a rewritten copy of
    the CSV is written there. Raises StagingError listing the URLs that failed.
    """
    with open(data_file, newline="", encoding="utf-8") as fd:
        reader = csv.reader(fd)
        header = next(reader, None)
        rows = list(reader)
    if header is None:
        return data_file, 0
    pairs = [(i, header.index(FILE_PREFIX + name[len(PATH_PREFIX):]))
             for i, name in enumerate(header)
             if name.startswith(PATH_PREFIX) and FILE_PREFIX + name[len(PATH_PREFIX):] in header]
    remote = {row[p] for row in rows for p, _ in pairs if _is_url(row[p])}
    if not remote:
        return data_file, 0
    local = {url: stage_dir / hashlib.sha1(url.encode()).hexdigest()[:16] for url in sorted(remote)}
    for folder in local.values():
        folder.mkdir(parents=True, exist_ok=True)
    wanted = sorted({(row[p], row[f]) for row in rows for p, f in pairs if row[p] in local})
    with ThreadPoolExecutor(max_workers=workers) as pool:
        errors = [e for e in pool.map(lambda item: _download(f"{item[0].rstrip('/')}/{item[1]}",
                                                             local[item[0]] / item[1]), wanted) if e]
    if errors:
        shown = "\n  ".join(errors[:10]) + (f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else "")
        raise StagingError(f"could not copy {len(errors)} of {len(wanted)} remote image(s) named in "
                           f"{data_file}:\n  {shown}")
    for row in rows:
        for p, _ in pairs:
            if row[p] in local:
                row[p] = str(local[row[p]])
    staged = stage_dir / data_file.name
    with open(staged, "w", newline="", encoding="utf-8") as fd:
        writer = csv.writer(fd)
        writer.writerow(header)
        writer.writerows(rows)
    return staged, len(wanted)
