"""results.jsonl: durable rows, a torn last line dropped and repaired, damage elsewhere refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from eval.results_log import ResultsLogError, ResultsWriter, read_results, to_jsonable


def test_rows_round_trip_with_nan_and_numpy_values(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    with ResultsWriter(path) as writer:
        writer.append({"id": "a", "value": math.nan, "details": {"n": np.int64(3), "x": np.float32(0.5),
                                                                 "v": np.array([1.0, np.inf])}})
        writer.append({"id": "b", "value": 1.25})
    assert read_results(path) == [{"id": "a", "value": None, "details": {"n": 3, "x": 0.5, "v": [1.0, None]}},
                                  {"id": "b", "value": 1.25}]
    assert to_jsonable((1, float("-inf"))) == [1, None]


def test_torn_last_line_is_dropped_and_repaired_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps({"id": "a"}) + "\n" + '{"id": "b", "val')
    assert read_results(path) == [{"id": "a"}]
    assert path.read_text().endswith('"val'), "reading alone leaves the file as it is"
    assert read_results(path, repair=True) == [{"id": "a"}]
    with ResultsWriter(path) as writer:
        writer.append({"id": "c"})
    assert read_results(path) == [{"id": "a"}, {"id": "c"}]


def test_damage_before_the_last_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "a"}\n{broken\n{"id": "c"}\n')
    with pytest.raises(ResultsLogError, match="line 2 is not valid JSON"):
        read_results(path)
    assert read_results(tmp_path / "absent.jsonl") == []
