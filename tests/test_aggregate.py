"""Aggregation maths (host/aggregate.py), tested alone."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparrow.host.aggregate import SparseUpdate, staleness_weight, union_support, weighted_mean


def upd(device: int, idx: list[int], val: list[float], weight: float = 1.0) -> SparseUpdate:
    return SparseUpdate(device, np.array(idx, dtype=np.uint32), np.array(val, dtype=np.float32), weight)


def test_weighted_mean_weights_each_update_by_its_samples() -> None:
    mean, total = weighted_mean([upd(1, [0, 2], [1.0, 3.0], 1.0), upd(2, [2, 3], [6.0, 4.0], 3.0)], 4)
    np.testing.assert_allclose(mean, [0.25, 0.0, (3.0 + 18.0) / 4, 3.0])
    assert total == 4.0
    assert mean.dtype == np.float32


def test_weighted_mean_of_one_update_is_that_update_made_dense() -> None:
    mean, _ = weighted_mean([upd(5, [1, 4], [2.5, -1.0], 7.0)], 6)
    np.testing.assert_array_equal(mean, [0, 2.5, 0, 0, -1.0, 0])


def test_weighted_mean_rejects_an_empty_round() -> None:
    with pytest.raises(ValueError, match="at least one"):
        weighted_mean([], 3)


def test_weighted_mean_rejects_an_index_beyond_n() -> None:
    with pytest.raises(ValueError, match="index"):
        weighted_mean([upd(1, [0, 9], [1.0, 1.0])], 4)


def test_sparse_update_rejects_nan_values() -> None:
    with pytest.raises(ValueError, match="NaN"):
        upd(3, [0, 1], [1.0, float("nan")])


def test_sparse_update_rejects_unsorted_or_repeated_indices() -> None:
    with pytest.raises(ValueError, match="ascending"):
        upd(3, [2, 1], [1.0, 1.0])
    with pytest.raises(ValueError, match="ascending"):
        upd(3, [1, 1], [1.0, 1.0])


def test_sparse_update_rejects_a_non_positive_weight() -> None:
    with pytest.raises(ValueError, match="weight"):
        upd(3, [0], [1.0], 0.0)


def test_staleness_weight_halves_at_one_round_and_drops_past_the_bound() -> None:
    assert staleness_weight(0, 2) == 1.0
    assert staleness_weight(1, 2) == 0.5
    assert staleness_weight(2, 2) == pytest.approx(1 / 3)
    assert staleness_weight(3, 2) == 0.0


def test_staleness_weight_rejects_negative_ages() -> None:
    with pytest.raises(ValueError):
        staleness_weight(-1, 2)


def test_union_support_counts_distinct_coordinates() -> None:
    assert union_support([upd(1, [0, 2], [1, 1]), upd(2, [2, 5], [1, 1])]) == 3
    assert union_support([]) == 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50), st.lists(st.floats(-10, 10, width=32), min_size=5, max_size=5)),
                min_size=1, max_size=6))
def test_weighted_mean_of_dense_updates_equals_numpy_average(rows: list[tuple[int, list[float]]]) -> None:
    updates = [upd(i, list(range(5)), vals, float(w)) for i, (w, vals) in enumerate(rows)]
    mean, _ = weighted_mean(updates, 5)
    expected = np.average(np.array([r[1] for r in rows], dtype=np.float64), axis=0,
                          weights=[r[0] for r in rows])
    np.testing.assert_allclose(mean, expected.astype(np.float32), rtol=1e-6, atol=1e-6)
