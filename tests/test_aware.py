"""Aggregation-aware selection: the node's scorer (agent/aware.py) and the host's summary (host/support.py)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sgc

from sparrow.agent.aware import AwareCompressor
from sparrow.host.aggregate import SparseUpdate, union_support, weighted_mean
from sparrow.common.support import SupportSummary, decode_summary, encode_summary
from sparrow.host.support import summarize


def upd(device: int, indices: list[int], values: list[float]) -> SparseUpdate:
    return SparseUpdate(device, np.array(indices, np.uint32), np.array(values, np.float32), 1.0)


# -- the host's summary -------------------------------------------------------

def test_the_summary_keeps_the_largest_aggregate_entries_with_their_popularity() -> None:
    updates = [upd(1, [0, 3, 7], [5.0, 1.0, 0.1]), upd(2, [3, 9], [2.0, -8.0])]
    aggregate, _ = weighted_mean(updates, 10)
    summary = summarize(updates, aggregate, 2, rnd=4)
    assert summary.indices.tolist() == [0, 9] and summary.round == 4
    np.testing.assert_allclose(summary.popularity, [0.5, 0.5])


def test_a_summary_larger_than_the_union_is_the_whole_union() -> None:
    updates = [upd(1, [2, 5], [1.0, 1.0]), upd(2, [5], [1.0])]
    summary = summarize(updates, weighted_mean(updates, 8)[0], 100, rnd=1)
    assert summary.indices.tolist() == [2, 5]
    np.testing.assert_allclose(summary.popularity, [0.5, 1.0])


def test_the_summary_round_trips_through_the_frame_codec() -> None:
    summary = SupportSummary(7, 1000, np.array([3, 40, 999], np.uint32), np.array([1.0, 0.25, 0.5], np.float32))
    back = decode_summary(encode_summary(summary), 1000)
    assert back.round == 7 and back.indices.tolist() == [3, 40, 999]
    np.testing.assert_allclose(back.popularity, summary.popularity, atol=1 / 127)


def test_a_summary_of_1000_indices_of_100000_costs_about_two_bytes_each() -> None:
    idx = np.sort(np.random.default_rng(0).choice(100_000, 1000, replace=False)).astype(np.uint32)
    frame = encode_summary(SupportSummary(1, 100_000, idx, np.ones(1000, np.float32)))
    assert len(frame) < 3 * 1000


def test_decode_summary_rejects_a_node_update_and_a_wrong_length() -> None:
    node_update = sgc.encode_sparse(10, np.array([1], np.uint32), np.array([0.5], np.float32), device_id=3)
    with pytest.raises(ValueError):
        decode_summary(node_update, 10)
    good = encode_summary(SupportSummary(1, 10, np.array([1], np.uint32), np.array([1.0], np.float32)))
    with pytest.raises(ValueError):
        decode_summary(good, 11)
    negative = sgc.encode_sparse(10, np.array([1], np.uint32), np.array([-0.5], np.float32), device_id=0)
    with pytest.raises(ValueError):
        decode_summary(negative, 10)


def test_summarize_rejects_no_updates_and_a_zero_size() -> None:
    with pytest.raises(ValueError):
        summarize([], np.zeros(4, np.float32), 1, 1)
    with pytest.raises(ValueError):
        summarize([upd(1, [0], [1.0])], np.zeros(4, np.float32), 0, 1)


# -- the node's scorer ----------------------------------------------------------

def test_without_a_summary_it_is_plain_top_k() -> None:
    grad = np.random.default_rng(1).normal(size=200).astype(np.float32)
    idx, vals = AwareCompressor([(0, 200)], 0.05).compress(grad)
    want = np.sort(np.argsort(-np.abs(grad))[:10])
    assert idx.tolist() == want.tolist()
    np.testing.assert_array_equal(vals, grad[want])


def test_a_popular_index_beats_a_slightly_larger_unpopular_one() -> None:
    comp = AwareCompressor([(0, 4)], 0.25, popularity_boost=1.0, persistence_boost=0.0)
    comp.observe(np.array([2]), np.array([1.0]))
    idx, _ = comp.compress(np.array([0.0, 1.5, 1.0, 0.0], np.float32))
    assert idx.tolist() == [2]


def test_a_much_larger_value_still_wins_over_the_support() -> None:
    comp = AwareCompressor([(0, 4)], 0.25, popularity_boost=1.0, persistence_boost=1.0)
    comp.observe(np.array([2]), np.array([1.0]))
    idx, _ = comp.compress(np.array([0.0, 9.0, 1.0, 0.0], np.float32))
    assert idx.tolist() == [1]


def test_persistence_grows_with_repeated_membership_and_fades_without_it() -> None:
    comp = AwareCompressor([(0, 4)], 0.25, popularity_boost=0.0, persistence_boost=1.0, decay=0.5)
    comp.compress(np.array([1.0, 2.0, 1.0, 1.0], np.float32))
    seen = []
    for present in (True, True, True, False):
        comp.observe(np.array([3] if present else [], np.int64), np.array([0.5] if present else [], np.float32))
        seen.append(float(comp.scores()[3] / comp.scores()[0]))
    np.testing.assert_allclose(seen, [1.5, 1.75, 1.875, 1.4375], rtol=1e-6)


def test_every_node_picks_the_same_support_when_the_summary_dominates() -> None:
    rng = np.random.default_rng(0)
    support = np.arange(0, 1000, 10)
    nodes = [AwareCompressor([(0, 1000)], 0.1, popularity_boost=50.0, persistence_boost=0.0) for _ in range(4)]
    picked = []
    for comp in nodes:
        comp.observe(support, np.ones(support.size, np.float32))
        grad = rng.uniform(-2, 2, size=1000).astype(np.float32)
        grad[support] = rng.uniform(0.5, 1.0, size=support.size)
        picked.append(comp.compress(grad)[0])
    updates = [SparseUpdate(d, i, np.zeros(i.size, np.float32), 1.0) for d, i in enumerate(picked)]
    assert union_support(updates) == 100


def test_the_budget_is_the_same_k_per_slice() -> None:
    comp = AwareCompressor([(0, 100), (100, 300)], 0.1)
    comp.observe(np.arange(0, 300, 2), np.full(150, 0.5, np.float32))
    idx, _ = comp.compress(np.random.default_rng(2).normal(size=300).astype(np.float32))
    assert comp.budget == 30 and np.sum(idx < 100) == 10 and np.sum(idx >= 100) == 20


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), coding=st.sampled_from(["fp32", "fp16", "int8"]),
       boost=st.floats(0, 20))
def test_residual_after_plus_sent_equals_residual_before_plus_gradient(seed: int, coding: str, boost: float) -> None:
    rng = np.random.default_rng(seed)
    comp = AwareCompressor([(0, 64), (64, 150)], 0.1, popularity_boost=boost, persistence_boost=boost,
                           value_coding=coding)
    for _ in range(3):
        before = comp.residual
        comp.observe(np.sort(rng.choice(150, 20, replace=False)), rng.random(20).astype(np.float32))
        grad = rng.normal(size=150).astype(np.float32)
        idx, vals = comp.compress(grad)
        sent = np.zeros(150, np.float32)
        sent[idx] = vals
        np.testing.assert_allclose(comp.residual + sent, before + grad, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"density": 0.0}, {"popularity_boost": -1.0}, {"decay": 1.0},
                                    {"method": "nope"}, {"value_coding": "fp8"}, {"ranges": [(0, 5), (6, 9)]}])
def test_bad_options_are_rejected_with_a_clear_error(kwargs) -> None:
    args = {"ranges": [(0, 10)], "density": 0.1} | kwargs
    with pytest.raises(ValueError):
        AwareCompressor(**args)


def test_bad_gradients_and_summaries_are_rejected() -> None:
    comp = AwareCompressor([(0, 10)], 0.1)
    with pytest.raises(ValueError):
        comp.compress(np.zeros(9, np.float32))
    with pytest.raises(ValueError):
        comp.compress(np.full(10, np.nan, np.float32))
    with pytest.raises(ValueError):
        comp.observe(np.array([10]), np.array([1.0]))
    with pytest.raises(ValueError):
        comp.observe(np.array([1]), np.array([1.5]))


def test_an_aware_agent_folds_the_published_summary_into_its_scores() -> None:
    from sparrow.agent.config import AgentConfig
    from sparrow.common.config import BrokerConfig
    from sparrow.agent.node import Agent
    node = Agent(AgentConfig(model="mlp_digits", device_id=3, compressor="exact", density=0.1, selection="aware"),
                 BrokerConfig(job="unit"))
    assert (node.topics.support, 1) in node.transport._subscriptions
    node.compressor.compress(np.ones(node.n, np.float32))
    a, b, c = np.flatnonzero(node.compressor.residual)[:3]
    before = node.compressor.scores()
    summary = SupportSummary(4, node.n, np.array([a, b], np.uint32), np.array([1.0, 0.5], np.float32))
    node._on_frame(node.topics.support, encode_summary(summary))
    after = node.compressor.scores()
    assert after[a] > after[b] > before[b] and after[c] == before[c]
