"""CellProfiler integration: locate the isolated CellProfiler, validate and run pipelines.

CellProfiler lives in its own venv (`.venv-cp`, numpy<2); everything here talks to it
through subprocesses, so importing this package never imports CellProfiler.

- `cppipe`: declare a pipeline in Python and write a `.cppipe` that CellProfiler loads as declared.
- `validation.validate_pipeline`: catch CellProfiler's silent failures before a run.
- `runner.run_pipeline`: one headless CellProfiler invocation into an output dir, atomically.
"""

from pathlib import Path

PLUGINS_DIR: Path = Path(__file__).resolve().parent / "plugins"
