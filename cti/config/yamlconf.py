"""YAML config files validated by pydantic, with errors that name the file,
the line and the field.

``load(path, Model)`` parses the file once into nodes (which know their line)
and into data; a validation error is mapped back to the node of the field it
names, so a bad value reads as::

    acd/queues.yaml:42: queues.ac-zh.strategy: Input should be 'ringall', ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class YamlConfigError(Exception):
    """A config file is wrong; the message names file, line and field."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """A mapping with the same key twice is refused (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the node at ``loc`` (or of its nearest parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if str(k.value) == str(part):
                    nxt = v
                    line = k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


def line_of(path: Path, loc: tuple[int | str, ...]) -> int | None:
    """The line of the field at ``loc`` in a YAML file (for checks made after
    loading, such as references to another file)."""
    try:
        return _line_of(yaml.compose(path.read_text(encoding="utf-8"),
                                     Loader=_UniqueKeyLoader), loc)
    except (OSError, yaml.YAMLError):
        return None


def load(path: Path, model: type[M]) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise YamlConfigError(f"{path}: not found") from None
    try:
        root = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise YamlConfigError(f"{where}: not valid YAML: {exc.problem or exc}") from None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc) or "(top)"
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            line = _line_of(root, loc)
            lines.append(f"{path}:{line}: {field}: {msg}" if line else f"{path}: {field}: {msg}")
        raise YamlConfigError("; ".join(lines)) from None
