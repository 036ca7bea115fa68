"""Plain JSON for every command line, results file and API: JSON has no NaN and no numpy types.

One conversion for the whole project, so a failed metric (NaN) is written as
null everywhere and never crashes a writer.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def to_jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON data: NaN/inf become None, numpy scalars/arrays become Python."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`to_jsonable` (never emits NaN)."""
    return json.dumps(to_jsonable(value), allow_nan=False, **kwargs)


def emit(payload: dict[str, Any], as_json: bool) -> None:
    """Print a command's result: one JSON object (``--json``) or ``key: value`` lines."""
    if as_json:
        print(dumps(payload))
    else:
        for key, value in payload.items():
            print(f"{key}: {value}")
