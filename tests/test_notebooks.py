"""The notebooks in notebooks/ run top to bottom (on the tiny screen, to keep the suite short)."""

from __future__ import annotations

import os
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
    text = outputs_text(execute("step_by_step.ipynb", tmp_path / "screen"))
    assert "filter_size" in text  # the printed spec
    assert "nothing changed, nothing ran: (0, 0)" in text
    assert "rule cp_illum_calc_invoke" in text  # the Snakefile, readable


@pytest.mark.slow
def test_example_notebook(tmp_path):
    text = outputs_text(execute("example.ipynb", tmp_path / "screen"))
    assert "Pipeline complete!" in text
