"""The tiny screen's images in a bucket on a real S3-speaking server (moto, over HTTP).

Inventory, index and the whole run read them from `s3://` through
`DataConfig.storage_options`; the options (endpoint and credentials) reach each job through
its environment, so the secret is in no file the run writes.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from starrynight.config import DataConfig, RemotePath, job_environment
from starrynight.datasets import generate_dataset
from tests.live.conftest import cells, run_tiny_screen

pytestmark = pytest.mark.slow


def _upload(server, local: Path, bucket: str, prefix: str) -> int:
    fs = server.filesystem()
    fs.mkdir(bucket)
    files = sorted(p for p in local.rglob("*") if p.is_file())
    fs.put(
        [str(p) for p in files],
        [f"{bucket}/{prefix}/{p.relative_to(local).as_posix()}" for p in files],
    )
    return len(files)


def test_live_s3_inventory_index_and_run_read_the_images_from_a_bucket(
    s3_server, tiny_local_cells, tmp_path
):
    info = generate_dataset(tmp_path / "screen", "tiny", seed=0)
    n = _upload(s3_server, info.images_path, "screens", "tiny/images")
    images = "s3://screens/tiny/images"
    data_config = DataConfig(workspace_path=tmp_path / "workspace", images_path=images,
                             scratch_path=tmp_path / "scratch", storage_options=s3_server.storage_options())  # fmt: skip
    assert isinstance(data_config.images_path, RemotePath)
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "barcodes.csv").write_bytes(info.barcode_csv.read_bytes())
    # the images exist only in the bucket from here on
    for p in sorted(info.images_path.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()

    with job_environment(data_config):
        handle = run_tiny_screen(
            data_config, tmp_path / "workspace" / "barcodes.csv", tmp_path / "scratch" / "runs"
        )
    assert handle.status == "succeeded"
    from starrynight import naming
    from starrynight.qc.report import build_report

    build_report(
        tmp_path / "workspace",
        handle.summary_path,
        barcode_csv=tmp_path / "workspace" / "barcodes.csv",
    )
    assert naming.qc_report(tmp_path / "workspace").is_file()

    inventory = pl.read_parquet(naming.inventory_table(tmp_path / "workspace"))
    assert inventory.height == n
    loaddata = sorted(naming.loaddata_dir(tmp_path / "workspace", "cp_illum_calc").glob("*.csv"))
    path_names = pl.concat(
        [pl.read_csv(f).select(pl.col("^PathName_.*$")).unpivot()["value"] for f in loaddata]
    )
    assert path_names.len() > 0 and path_names.str.starts_with(f"{images}/").all()
    assert cells(tmp_path / "workspace").equals(tiny_local_cells)

    secrets = [s3_server.secret.encode(), s3_server.key.encode()]
    for root in (tmp_path / "workspace", tmp_path / "scratch"):
        for f in root.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                assert not any(s in data for s in secrets), f"a credential is written in {f}"
