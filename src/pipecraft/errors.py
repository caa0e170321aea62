"""Exceptions raised by pipecraft; each names the node, path or setting at fault."""

from __future__ import annotations


class PipecraftError(Exception):
    """Base class of every pipecraft error."""


class GraphError(PipecraftError):
    """The pipeline cannot be compiled: a cycle, a duplicate output, a bad path or token."""


class RunLockedError(PipecraftError):
    """Another run is active in the same working directory."""


class RunFailedError(PipecraftError):
    """A run finished with failed jobs; `.handle` gives the details."""

    def __init__(self, message: str, handle: object = None) -> None:
        super().__init__(message)
        self.handle = handle


class RunInterruptedError(RunFailedError):
    """A waited-on run was stopped by SIGINT or SIGTERM; Snakemake and its jobs are gone."""
