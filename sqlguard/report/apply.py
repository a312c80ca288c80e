"""The migration report of `sqlguard apply` (placeholder renderer, replaced below)."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any


def render(result: Any, fmt: str, settings: Any) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, Path):
            return str(o)
        if is_dataclass(o):
            return asdict(o)  # type: ignore[arg-type]
        return str(o)
    return json.dumps(asdict(result), indent=2, default=default) + "\n"
