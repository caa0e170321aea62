"""Settings errors as one readable line: the key, what is wrong, the allowed keys, a close match."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError


def fields_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
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
        key = where + ".".join(str(p) for p in loc) if loc else where.rstrip(".")
        if item["type"] == "extra_forbidden":
            allowed = fields_at(model, loc[:-1])
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
            text = f"{key}: {message}{shown}" if key else message  # a check of the whole model
        problems.append(text)
    return "; ".join(problems)
