"""YAML loading that remembers where each top-level key stands, for error messages with lines."""

from __future__ import annotations

from typing import Any

import yaml

from sqlguard.diagnostic import SqlguardError


def load_yaml_with_lines(text: str, path: str) -> tuple[Any, dict[str, tuple[int, int]]]:
    """Parse YAML safely; return the data and {top-level key: (line, column)} (1-based)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        raise SqlguardError(f"invalid YAML: {problem}", path, mark.line + 1 if mark else None,
                            mark.column + 1 if mark else None) from None
    except yaml.YAMLError as err:
        raise SqlguardError(f"invalid YAML: {str(err).splitlines()[0] if str(err) else type(err).__name__}",
                            path) from None
    except RecursionError:
        raise SqlguardError("invalid YAML: nested too deeply", path) from None
    lines: dict[str, tuple[int, int]] = {}
    if isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            lines[str(key.value)] = (key.start_mark.line + 1, key.start_mark.column + 1)
    return data, lines


def node_lines(text: str) -> yaml.Node | None:
    """The composed node tree (marks included), for validators that need nested positions."""
    return yaml.compose(text, Loader=yaml.SafeLoader)
