"""Turn user mistakes into one clear line on stderr instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click


@contextmanager
def user_errors() -> Iterator[None]:
    """Report ValueError/FileNotFoundError/KeyError (the user-input errors) as a CLI error."""
    try:
        yield
    except (ValueError, FileNotFoundError, KeyError, PermissionError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise click.ClickException(str(message)) from err
