"""Turn user mistakes into one clear line on stderr instead of a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from pydantic import BaseModel, ValidationError


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
        raise click.ClickException(str(message)) from err


def _fields_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The field names of the (nested) model that `loc` points into, or []."""
    for part in loc:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return []
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return list(model.model_fields) if model is not None else []


def describe_validation(error: ValidationError, where: str = "", model: type[BaseModel] | None = None) -> str:
    """One line for a pydantic error: `where` + key, what is wrong, allowed keys, a close match.

    `where` prefixes every key (e.g. "backend." or "parameters.sbs_preprocess."); `model`
    (the validated class) gives the allowed keys of an unknown one.
    """
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        key = where + ".".join(str(p) for p in loc) if loc else where.rstrip(".") or "value"
        if item["type"] == "extra_forbidden":
            allowed = _fields_at(model, loc[:-1])
            text = f"{key}: unknown setting"
            if allowed:
                text += f" (allowed: {', '.join(allowed)})"
                close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
                if close:
                    text += f"; did you mean '{close[0]}'?"
        elif item["type"] == "missing":
            text = f"{key}: missing"
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            got = item.get("input")
            shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
            text = f"{key}: {message}{shown}"
        problems.append(text)
    return "; ".join(problems)
