"""Settings files a user wrote (screen config, init config), read strictly.

PyYAML keeps the last of two equal keys in a mapping, so a setting written twice would be
silently replaced by its second value; here it is an error naming the key and both lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class UserYamlError(ValueError):
    """A settings file that cannot be read, is not UTF-8 YAML, or repeats a key."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""


def _mapping_without_repeats(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise UserYamlError(
                f"line {line}: key '{key}' is given twice (first on line {seen[key]})"
            )
        seen[key] = line
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeats
)


def read_user_yaml(path: Path, what: str) -> Any:
    """The YAML (or JSON) document in `path`; any problem is one line naming `what` and `path`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise UserYamlError(f"cannot read {what} {path}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise UserYamlError(f"{what} {path} is not UTF-8 text (byte {err.start})") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except UserYamlError as err:
        raise UserYamlError(f"{what} {path}: {err}") from None
    except yaml.YAMLError as err:
        raise UserYamlError(
            f"{what} {path} is not valid YAML: {' '.join(str(err).split())}"
        ) from None
