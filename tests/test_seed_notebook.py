"""The contract: the seed's example notebook runs as written, paths aside, on the demo dataset."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[1]
SEED_CANDIDATES = [REPO.parent / "shared" / "seed" / "execution-model.md", REPO / "docs" / "seed" / "execution-model.md"]


def seed_example_notebook() -> str:
    """The code block under the seed's "## Example Notebook" heading."""
    seed = next(p for p in SEED_CANDIDATES if p.exists())
    section = seed.read_text().split("## Example Notebook", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def with_paths(code: str, root: Path) -> str:
    """Change only the three path assignments, as a user would."""
    replaced = code
    for name, sub in (("workspace_path", "workspace"), ("images_path", "images"), ("scratch_path", "scratch")):
        replaced, count = re.subn(
            rf'^{name} = Path\("[^"]*"\)$', f'{name} = Path({str(root / sub)!r})', replaced, flags=re.M
        )
        assert count == 1, f"the seed notebook no longer assigns {name} on one line"
    return replaced


def test_only_three_lines_change(tmp_path):
    code = seed_example_notebook()
    changed = with_paths(code, tmp_path)
    diff = [a for a, b in zip(code.splitlines(), changed.splitlines(), strict=True) if a != b]
    assert len(diff) == 3


@pytest.mark.slow
def test_seed_notebook_runs_end_to_end_on_demo_dataset(tmp_path):
    from starrynight import naming
    from starrynight.datasets import generate_dataset

    info = generate_dataset(tmp_path / "demo", "demo", seed=0)
    script = tmp_path / "notebook.py"
    script.write_text(with_paths(seed_example_notebook(), info.root))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Pipeline complete!" in result.stdout

    cells = pl.read_parquet(naming.analysis.cell_table(info.workspace_path))
    assert cells.height > 0
    for column in ("plate", "well", "site", "gene", "match_score"):
        assert column in cells.columns
