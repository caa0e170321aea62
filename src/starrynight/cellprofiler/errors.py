"""Exceptions of the CellProfiler layer; the CLI prints them without a traceback."""

from __future__ import annotations


class CellProfilerError(Exception):
    """Base class: anything that stops a CellProfiler validation, build or run."""


class CellProfilerNotFound(CellProfilerError):
    """No CellProfiler interpreter could be located."""


class PipelineValidationError(CellProfilerError):
    """A pipeline (with its LoadData CSV) would not run as written."""

    def __init__(self, pipeline: str, problems: list[str]) -> None:
        self.pipeline = pipeline
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"pipeline {pipeline} is invalid:\n{lines}")


class CellProfilerRunError(CellProfilerError):
    """CellProfiler failed, or did not produce the expected outputs."""


class CppipeBuildError(CellProfilerError):
    """A declared pipeline could not be turned into a `.cppipe` file."""
