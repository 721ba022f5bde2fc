"""DynaComm planner: optimality against brute force, edge cases, the timeline model, re-planning."""
from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparrow.common.dynacomm import (
    LayerCosts,
    LinkModel,
    Replanner,
    Segmentation,
    fit_link,
    plan,
    plan_pull,
    plan_push,
    pull_makespan,
    push_makespan,
)

times = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
sizes = st.floats(min_value=0.0, max_value=1e5, allow_nan=False)


@st.composite
def problems(draw: st.DrawFn, max_layers: int = 8, stop_and_wait: bool = True) -> tuple[LayerCosts, LinkModel]:
    n = draw(st.integers(1, max_layers))
    costs = LayerCosts(
        tuple(draw(st.lists(times, min_size=n, max_size=n))),
        tuple(draw(st.lists(times, min_size=n, max_size=n))),
        tuple(draw(st.lists(sizes, min_size=n, max_size=n))),
    )
    overhead = draw(st.floats(0.0, 0.5))
    # A stop-and-wait link delivers before it frees: a latency down to -overhead.
    latency = draw(st.floats(-overhead if stop_and_wait else 0.0, 0.1))
    link = LinkModel(overhead, draw(st.floats(1e3, 1e6)), latency)
    return costs, link


def all_segmentations(n: int) -> list[Segmentation]:
    out = []
    for mask in range(1 << (n - 1)):
        starts = (0, *(i + 1 for i in range(n - 1) if mask >> i & 1))
        out.append(Segmentation(starts, n))
    return out


# Optimality -------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(problems())
def test_push_plan_equals_the_brute_force_optimum(problem: tuple[LayerCosts, LinkModel]) -> None:
    costs, link = problem
    segmentation, makespan = plan_push(costs, link)
    brute = min(push_makespan(costs, link, s) for s in all_segmentations(costs.num_layers))
    assert makespan == pytest.approx(brute, rel=1e-9, abs=1e-12)
    assert push_makespan(costs, link, segmentation) == pytest.approx(makespan, rel=1e-12, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(problems())
def test_pull_plan_equals_the_brute_force_optimum(problem: tuple[LayerCosts, LinkModel]) -> None:
    costs, link = problem
    segmentation, makespan = plan_pull(costs, link)
    brute = min(pull_makespan(costs, link, s) for s in all_segmentations(costs.num_layers))
    assert makespan == pytest.approx(brute, rel=1e-9, abs=1e-12)
    assert pull_makespan(costs, link, segmentation) == pytest.approx(makespan, rel=1e-12, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(problems())
def test_plan_never_loses_to_one_message_or_one_message_per_layer(problem: tuple[LayerCosts, LinkModel]) -> None:
    costs, link = problem
    schedule = plan(costs, link)
    n = costs.num_layers
    for fixed in (Segmentation.one_message(n), Segmentation.per_layer(n)):
        assert schedule.push_s <= push_makespan(costs, link, fixed) * (1 + 1e-9) + 1e-12
        assert schedule.pull_s <= pull_makespan(costs, link, fixed) * (1 + 1e-9) + 1e-12


# Edge cases -------------------------------------------------------------------


def test_one_layer_is_one_message_with_the_plain_sum_as_makespan() -> None:
    costs = LayerCosts((0.3,), (0.2,), (1000.0,))
    link = LinkModel(0.05, 1e4, 0.01)
    schedule = plan(costs, link)
    assert schedule.push == schedule.pull == Segmentation((0,), 1)
    assert schedule.push_s == pytest.approx(0.3 + 0.05 + 0.1 + 0.01)
    assert schedule.pull_s == pytest.approx(0.01 + 0.05 + 0.1 + 0.2)


def test_zero_overhead_with_compute_longer_than_each_transfer_sends_one_message_per_layer() -> None:
    n = 6
    costs = LayerCosts((1.0,) * n, (1.0,) * n, (100.0,) * n)
    link = LinkModel(0.0, 1000.0)
    schedule = plan(costs, link)
    assert schedule.push == Segmentation.per_layer(n)
    assert schedule.pull == Segmentation.per_layer(n)


@settings(max_examples=60, deadline=None)
@given(problems())
def test_zero_overhead_makes_one_message_per_layer_optimal(problem: tuple[LayerCosts, LinkModel]) -> None:
    costs, link = problem
    free = LinkModel(0.0, link.bandwidth_Bps, max(link.latency_s, 0.0))
    per_layer = Segmentation.per_layer(costs.num_layers)
    assert plan_push(costs, free)[1] == pytest.approx(push_makespan(costs, free, per_layer), rel=1e-9, abs=1e-12)
    assert plan_pull(costs, free)[1] == pytest.approx(pull_makespan(costs, free, per_layer), rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(problems())
def test_huge_overhead_sends_everything_in_one_message(problem: tuple[LayerCosts, LinkModel]) -> None:
    costs, link = problem
    costly = LinkModel(1e6, link.bandwidth_Bps, link.latency_s)
    schedule = plan(costs, costly)
    assert schedule.push.count == 1
    assert schedule.pull.count == 1


def test_latency_shifts_the_makespan_without_changing_the_choice() -> None:
    costs = LayerCosts((0.1, 0.4, 0.2, 0.05), (0.05, 0.3, 0.1, 0.02), (200.0, 5000.0, 800.0, 40.0))
    near = plan(costs, LinkModel(0.02, 1e4, 0.0))
    far = plan(costs, LinkModel(0.02, 1e4, 0.5))
    assert (far.push, far.pull) == (near.push, near.pull)
    assert far.push_s == pytest.approx(near.push_s + 0.5)
    assert far.pull_s == pytest.approx(near.pull_s + 0.5)


def test_a_separate_downlink_drives_the_pull_plan() -> None:
    costs = LayerCosts((1.0,) * 4, (1.0,) * 4, (100.0,) * 4)
    schedule = plan(costs, LinkModel(0.0, 1000.0), LinkModel(1e6, 1000.0))
    assert schedule.push.count == 4
    assert schedule.pull.count == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"backward_s": (), "forward_s": (), "message_bytes": ()}, "at least one layer"),
    ({"backward_s": (1.0,), "forward_s": (1.0, 2.0), "message_bytes": (1.0,)}, "one entry per layer"),
    ({"backward_s": (-1.0,), "forward_s": (1.0,), "message_bytes": (1.0,)}, r"backward_s\[0\]"),
    ({"backward_s": (1.0,), "forward_s": (math.nan,), "message_bytes": (1.0,)}, r"forward_s\[0\]"),
])
def test_layer_costs_reject_bad_measurements_by_name(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LayerCosts(**kwargs)


def test_link_model_rejects_a_bandwidth_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="bandwidth_Bps"):
        LinkModel(0.0, 0.0)
    with pytest.raises(ValueError, match="overhead_s"):
        LinkModel(-1.0, 10.0)
    with pytest.raises(ValueError, match="latency_s"):
        LinkModel(0.04, 10.0, -0.05)


def test_a_stop_and_wait_link_delivers_a_delay_before_it_frees() -> None:
    # One message of 1 s on the wire, 0.1 s each way, the sender waits for the ack.
    link = LinkModel(0.2, 1000.0, -0.1)
    costs = LayerCosts((0.0,), (0.0,), (1000.0,))
    assert push_makespan(costs, link, Segmentation.one_message(1)) == pytest.approx(1.1)
    assert pull_makespan(costs, link, Segmentation.one_message(1)) == pytest.approx(1.1)


@pytest.mark.parametrize("starts, n", [((), 3), ((1,), 3), ((0, 2, 1), 3), ((0, 3), 3), ((0, 0), 3)])
def test_segmentation_rejects_starts_that_do_not_split_the_layers(starts: tuple, n: int) -> None:
    with pytest.raises(ValueError, match="segment starts"):
        Segmentation(starts, n)


def test_segmentation_maps_layers_to_their_segment() -> None:
    s = Segmentation((0, 2, 5), 7)
    assert s.ranges == [(0, 2), (2, 5), (5, 7)]
    assert [s.segment_of(i) for i in range(7)] == [0, 0, 1, 1, 1, 2, 2]


def test_makespan_rejects_a_segmentation_of_another_model() -> None:
    costs = LayerCosts((1.0,) * 3, (1.0,) * 3, (1.0,) * 3)
    with pytest.raises(ValueError, match="covers 2 layers"):
        push_makespan(costs, LinkModel(0.0, 1.0), Segmentation.per_layer(2))


# The timeline model against a discrete-event simulation ----------------------


def simulate(tasks: dict[str, tuple[str, float, list[str]]], order: dict[str, list[str]]) -> dict[str, float]:
    """Event-driven run of tasks on resources; returns each task's finish time.

    ``tasks[name] = (resource, duration, dependencies)``. A resource in
    ``order`` runs its tasks one at a time in that order; any other resource
    (a wire delay) runs every task as soon as its dependencies finish.
    """
    finish: dict[str, float] = {}
    busy_until = {r: 0.0 for r in order}
    position = {r: 0 for r in order}
    events: list[tuple[float, str]] = []
    started: set[str] = set()
    now = 0.0

    def try_start() -> None:
        for name, (resource, duration, deps) in tasks.items():
            if name in started or any(d not in finish for d in deps):
                continue
            if resource in order:
                queue = order[resource]
                if queue[position[resource]] != name or busy_until[resource] > now:
                    continue
                position[resource] += 1
                busy_until[resource] = now + duration
            started.add(name)
            heapq.heappush(events, (now + duration, name))

    try_start()
    while events:
        now, name = heapq.heappop(events)
        finish[name] = now
        try_start()
        # A resource that just became free may start its next task.
        try_start()
    assert len(finish) == len(tasks), "simulation deadlocked"
    return finish


def simulated_push(costs: LayerCosts, link: LinkModel, seg: Segmentation) -> float:
    n = costs.num_layers
    tasks: dict[str, tuple[str, float, list[str]]] = {}
    for i in range(n - 1, -1, -1):
        tasks[f"b{i}"] = ("cpu", costs.backward_s[i], [])
    for m, (a, b) in enumerate(seg.ranges):
        tasks[f"send{m}"] = ("link", link.message_s(sum(costs.message_bytes[a:b])), [f"b{a}"])
        tasks[f"arrive{m}"] = ("wire", link.latency_s, [f"send{m}"])
    finish = simulate(tasks, {"cpu": [f"b{i}" for i in range(n - 1, -1, -1)],
                              "link": [f"send{m}" for m in range(seg.count - 1, -1, -1)]})
    return max(finish[f"arrive{m}"] for m in range(seg.count))


def simulated_pull(costs: LayerCosts, link: LinkModel, seg: Segmentation) -> float:
    n = costs.num_layers
    tasks: dict[str, tuple[str, float, list[str]]] = {}
    for m, (a, b) in enumerate(seg.ranges):
        tasks[f"send{m}"] = ("link", link.message_s(sum(costs.message_bytes[a:b])), [])
        tasks[f"arrive{m}"] = ("wire", link.latency_s, [f"send{m}"])
    for i in range(n):
        tasks[f"f{i}"] = ("cpu", costs.forward_s[i], [f"arrive{seg.segment_of(i)}"])
    finish = simulate(tasks, {"cpu": [f"f{i}" for i in range(n)],
                              "link": [f"send{m}" for m in range(seg.count)]})
    return finish[f"f{n - 1}"]


@settings(max_examples=80, deadline=None)
@given(problems(max_layers=6, stop_and_wait=False), st.data())
def test_makespan_formulas_match_a_discrete_event_simulation(problem: tuple[LayerCosts, LinkModel],
                                                             data: st.DataObject) -> None:
    costs, link = problem
    seg = data.draw(st.sampled_from(all_segmentations(costs.num_layers)))
    assert push_makespan(costs, link, seg) == pytest.approx(simulated_push(costs, link, seg), rel=1e-9, abs=1e-12)
    assert pull_makespan(costs, link, seg) == pytest.approx(simulated_pull(costs, link, seg), rel=1e-9, abs=1e-12)


def test_overlap_hides_backward_behind_the_link_as_the_timeline_predicts() -> None:
    # Three layers, 1 s of backward each, 0.5 s per message: pushing per layer
    # overlaps sends with backward, one message waits for all of backward.
    costs = LayerCosts((1.0,) * 3, (1.0,) * 3, (500.0,) * 3)
    link = LinkModel(0.0, 1000.0)
    assert push_makespan(costs, link, Segmentation.one_message(3)) == pytest.approx(3.0 + 1.5)
    assert push_makespan(costs, link, Segmentation.per_layer(3)) == pytest.approx(3.0 + 0.5)
    assert pull_makespan(costs, link, Segmentation.per_layer(3)) == pytest.approx(0.5 + 3.0)


# Link fitting and re-planning -------------------------------------------------


def test_fit_link_recovers_overhead_and_bandwidth_from_exact_timings() -> None:
    sizes = [100.0, 1000.0, 10000.0, 50000.0]
    seconds = [0.02 + s / 125000.0 for s in sizes]
    link = fit_link(sizes, seconds)
    assert link.overhead_s == pytest.approx(0.02, rel=1e-6)
    assert link.bandwidth_Bps == pytest.approx(125000.0, rel=1e-6)


def test_fit_link_needs_two_distinct_sizes() -> None:
    with pytest.raises(ValueError, match="two distinct"):
        fit_link([100.0, 100.0], [0.1, 0.2])


def _costs(scale: float = 1.0) -> LayerCosts:
    return LayerCosts((0.02 * scale, 0.05 * scale, 0.03 * scale, 0.01 * scale),
                      (0.01 * scale, 0.02 * scale, 0.02 * scale, 0.005 * scale),
                      (800.0, 12000.0, 4000.0, 400.0))


def test_replanner_plans_on_the_first_observation_and_ignores_noise() -> None:
    replanner = Replanner(alpha=0.5, threshold=0.2)
    link = LinkModel(0.01, 1e5)
    assert replanner.observe(_costs(), link)
    first = replanner.schedule
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert not replanner.observe(_costs(1.0 + rng.uniform(-0.05, 0.05)), link)
    assert replanner.schedule == first
    assert replanner.replans == 1


def test_replanner_follows_a_bandwidth_drop_to_the_new_optimum() -> None:
    replanner = Replanner(alpha=0.5, threshold=0.2)
    fast = LinkModel(0.05, 1e7)
    slow = LinkModel(0.05, 2e4)
    replanner.observe(_costs(), fast)
    for _ in range(12):
        replanner.observe(_costs(), slow)
    assert replanner.replans >= 2
    _, up, _ = replanner.estimates
    assert up.bandwidth_Bps == pytest.approx(2e4, rel=0.01)
    best_push, best_push_s = plan_push(_costs(), slow)
    assert plan_push(_costs(), fast)[0] != best_push
    # Hysteresis: the plan was made from estimates within the threshold of
    # the truth, so it is the optimum or close to it.
    assert push_makespan(_costs(), slow, replanner.schedule.push) <= best_push_s * 1.02
    assert pull_makespan(_costs(), slow, replanner.schedule.pull) <= plan_pull(_costs(), slow)[1] * 1.02


def test_replanner_requires_a_plan_before_it_is_asked_for_one() -> None:
    with pytest.raises(RuntimeError, match="observe"):
        _ = Replanner().schedule
    with pytest.raises(ValueError, match="alpha"):
        Replanner(alpha=0.0)


def test_replanner_rejects_a_model_with_another_number_of_layers() -> None:
    replanner = Replanner()
    replanner.observe(_costs(), LinkModel(0.0, 1.0))
    with pytest.raises(ValueError, match="observed 1 layers"):
        replanner.observe(LayerCosts((1.0,), (1.0,), (1.0,)), LinkModel(0.0, 1.0))
