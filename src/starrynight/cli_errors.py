"""Turn user mistakes into one clear line on stderr instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from pydantic import ValidationError

from pipecraft.errors import RunInterruptedError
from starrynight.messages import describe_validation

INTERRUPTED_EXIT_CODE = 130  # as a shell reports a command stopped by Ctrl-C


@contextmanager
def user_errors() -> Iterator[None]:
    """Report user-input errors as one CLI error line.

    User-input errors are the project's own exceptions (a failed run included) plus ValueError, OSError and KeyError;
    anything else is a bug and keeps its traceback.
    """
    try:
        yield
    except Exception as err:
        ours = type(err).__module__.startswith(("starrynight", "pipecraft"))
        if not (ours or isinstance(err, ValueError | OSError | KeyError)):
            raise
        if isinstance(err, ValidationError):
            raise click.ClickException(f"{err.title}: {describe_validation(err)}") from err
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        failure = click.ClickException(str(message))
        if isinstance(err, RunInterruptedError):
            failure.exit_code = INTERRUPTED_EXIT_CODE
        raise failure from err

