"""The notebooks in notebooks/ run top to bottom (on the tiny screen, to keep the suite short)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def execute(name: str, root: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    env = {"STARRYNIGHT_DEMO_ROOT": str(root), "STARRYNIGHT_DEMO_PRESET": "tiny"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(notebook, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return notebook


def outputs_text(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(
        out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )


@pytest.mark.slow
def test_step_by_step_notebook(tmp_path):
    from starrynight import naming

    root = tmp_path / "screen"
    text = outputs_text(execute("step_by_step.ipynb", root))
    assert "filter_size" in text  # the printed spec
    assert "nothing changed, nothing ran: (0, 0)" in text
    assert "rule cp_illum_calc_invoke" in text  # the Snakefile, readable
    # the edit reached the pipeline CellProfiler ran, and re-ran the step's unit
    cppipe = naming.cppipe_path(root / "workspace", "cp_illum_calc").read_text()
    assert "Smoothing filter size:30\n" in cppipe
    assert re.search(r"after the edit: succeeded \([1-9]\d*, [1-9]\d*\)", text), text[-2000:]


@pytest.mark.slow
def test_example_notebook(tmp_path):
    import polars as pl

    from starrynight import naming

    root = tmp_path / "screen"
    text = outputs_text(execute("example.ipynb", root))
    assert "Pipeline complete!" in text  # printed whatever happened: check what the run made
    cells = pl.read_parquet(naming.analysis.cell_table(root / "workspace"))
    assert cells.height > 0 and cells.get_column("gene").drop_nulls().len() > 0
    assert naming.qc_report(root / "workspace").stat().st_size > 0
