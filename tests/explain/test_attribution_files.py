"""A saved attribution that was damaged (offsets out of order, ids of another length or dtype,
a missing array) is refused in one line naming the file, never a traceback or a silent mix-up;
an intact one reads back bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hepxai.core.errors import HepxaiError
from hepxai.explain.types import Attribution


def _ragged() -> Attribution:
    values = np.arange(12, dtype=np.float32).reshape(6, 2)  # 6 nodes, 2 targets
    return Attribution(values=values, targets=("a", "b"), method="test", kind="node",
                       offsets=np.array([0, 2, 6]), event_ids=np.array([4, 9]))


def _rewrite(path: Path, **changes) -> None:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def test_an_intact_file_reads_back_bit_for_bit(tmp_path: Path) -> None:
    saved = _ragged()
    loaded = Attribution.load(saved.save(tmp_path / "a.npz"))
    np.testing.assert_array_equal(loaded.values, saved.values)
    np.testing.assert_array_equal(loaded.offsets, saved.offsets)
    np.testing.assert_array_equal(loaded.event_ids, saved.event_ids)


@pytest.mark.parametrize("changes, message", [
    ({"offsets": np.array([0, 5, 6])[::-1].copy()}, "non-decreasing integers from 0"),
    ({"offsets": np.array([0.0, 2.0, 6.0])}, "non-decreasing integers from 0"),
    ({"offsets": np.array([1, 2, 6])}, "non-decreasing integers from 0"),
    ({"event_ids": np.array([4, 9, 11])}, "one integer per example"),
    ({"event_ids": np.array([4.5, 9.0])}, "one integer per example"),
    ({"values": None}, "not a complete hepxai attribution file"),
    ({"__meta__": np.frombuffer(json.dumps({"type": "Attribution"}).encode(), np.uint8)},
     "not a complete hepxai attribution file"),
])
def test_a_damaged_file_is_one_line_naming_it(tmp_path: Path, changes: dict,
                                              message: str) -> None:
    path = _ragged().save(tmp_path / "a.npz")
    _rewrite(path, **changes)
    with pytest.raises(HepxaiError, match=message) as info:
        Attribution.load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
