"""sgc.select and friends: golden vectors, contracts, errors, torch views."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import sgc

VECTORS = json.loads((Path(__file__).parent / "vectors" / "select_vectors.json").read_text())
APPROX = ["laplace", "partition", "dgc"]


def f32(bits: list[str]) -> np.ndarray:
    return np.array([int(b, 16) for b in bits], dtype=np.uint32).view(np.float32)


@pytest.mark.parametrize("case", VECTORS["select"], ids=lambda c: c["name"])
def test_exact_matches_the_numpy_reference_topk(case: dict) -> None:
    g = f32(case["g"])
    idx, vals = sgc.select(g, case["k"], method="exact")
    assert idx.dtype == np.uint32 and vals.dtype == np.float32
    assert idx.tolist() == case["topk"]
    assert np.array_equal(vals, g[idx])


@pytest.mark.parametrize("method", APPROX)
@pytest.mark.parametrize("case", VECTORS["select"], ids=lambda c: c["name"])
def test_approximate_selectors_stay_within_tolerance_on_vectors(case: dict, method: str) -> None:
    g = f32(case["g"])
    k = case["k"]
    idx, vals = sgc.select(g, k, method=method)
    assert k <= idx.size <= k + int(k * 0.05)
    assert np.all(np.diff(idx.astype(np.int64)) > 0)
    assert np.array_equal(vals, g[idx])


@pytest.mark.parametrize("method", APPROX)
def test_approximate_selectors_hold_the_whole_exact_top_k_of_a_heavy_tailed_gradient(
        method: str) -> None:
    rng = np.random.default_rng(7)
    wide = rng.random(200_000) < 0.05
    g = (rng.laplace(size=200_000) * np.where(wide, 12.0, 1.0)).astype(np.float32)
    k = 1_000
    idx, vals = sgc.select(g, k, method=method)
    assert k <= idx.size <= k + int(k * 0.05)
    top = np.argpartition(np.abs(g), g.size - k)[g.size - k:]
    assert np.isin(top, idx).all()
    assert float(np.sum(vals.astype(np.float64) ** 2)) >= float(np.sum(g[top].astype(np.float64) ** 2))


@pytest.mark.parametrize("case", VECTORS["random"], ids=lambda c: f"seed{c['seed']}_n{c['n']}")
def test_random_indices_match_the_reference_generator(case: dict) -> None:
    idx = sgc.random_indices(case["seed"], case["n"], case["k"])
    assert idx.tolist() == case["indices"]
    if case["n"] <= 100_000:
        g = np.arange(case["n"], dtype=np.float32)
        sel, vals = sgc.select(g, case["k"], method="random", seed=case["seed"])
        assert sel.tolist() == case["indices"]
        assert np.array_equal(vals, g[sel])


@pytest.mark.parametrize("case", VECTORS["quant"], ids=lambda c: c["name"])
def test_quantize_matches_the_reference_payloads(case: dict) -> None:
    values = f32(case["values"])
    payload, scale = sgc.quantize(values, case["coding"])
    assert payload.hex() == case["payload"]
    assert np.float32(scale).view(np.uint32) == int(case["scale"], 16)
    decoded = sgc.dequantize(payload, values.size, case["coding"], scale)
    assert decoded.view(np.uint32).tolist() == [int(b, 16) for b in case["decoded"]]


def test_select_reads_torch_tensors_without_copying() -> None:
    t = torch.from_numpy(np.random.default_rng(3).laplace(size=5000).astype(np.float32))
    from sgc._select import _as_vector
    assert np.shares_memory(_as_vector(t, "g"), t.numpy())  # the view C reads
    idx, vals = sgc.select(t, 50, method="exact")
    ref = torch.topk(t.abs(), 50).indices.sort().values.numpy()
    assert idx.tolist() == ref.tolist()
    t.requires_grad_(True)
    idx2, _ = sgc.select(t, 50, method="laplace")
    assert 47 <= idx2.size <= 52


@pytest.mark.parametrize("bad, message", [
    (np.zeros(10, dtype=np.float64), "float32"),
    (np.zeros((2, 5), dtype=np.float32), "1-D"),
    (np.zeros(20, dtype=np.float32)[::2], "contiguous"),
    ([1.0, 2.0], "numpy array"),
])
def test_select_rejects_wrong_arrays_with_a_clear_message(bad: object, message: str) -> None:
    with pytest.raises(sgc.ArgumentError, match=message):
        sgc.select(bad, 1)


@pytest.mark.parametrize("k", [0, -1, 11, 2**40])
def test_select_rejects_k_out_of_range_with_cs_message(k: int) -> None:
    with pytest.raises(sgc.ArgumentError, match="k must be between 1 and n"):
        sgc.select(np.ones(10, dtype=np.float32), k)


def test_select_rejects_an_empty_gradient() -> None:
    with pytest.raises(ValueError, match="n must be between 1 and SGC_MAX_N"):
        sgc.select(np.zeros(0, dtype=np.float32), 1)


@pytest.mark.parametrize("method", list(sgc.METHODS))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_every_selector_rejects_nan_and_inf(method: str, bad: float) -> None:
    g = np.ones(1000, dtype=np.float32)
    g[500] = bad
    with pytest.raises(sgc.ArgumentError, match="NaN or Inf") as err:
        sgc.select(g, 10, method=method)
    assert err.value.status == sgc._sgc.lib.SGC_E_NONFINITE


def test_select_rejects_unknown_methods_and_bad_tolerances() -> None:
    g = np.ones(100, dtype=np.float32)
    with pytest.raises(sgc.ArgumentError, match="unknown selection method"):
        sgc.select(g, 5, method="topk")
    for tol in (1.0, -0.5, float("nan")):
        with pytest.raises(sgc.ArgumentError, match="option out of range"):
            sgc.select(g, 5, tol=tol)


def test_select_with_info_reports_two_passes_for_laplace_on_laplace_data() -> None:
    g = np.random.default_rng(11).laplace(scale=1e-3, size=200_000).astype(np.float32)
    _, _, info = sgc.select_with_info(g, 200, method="laplace")
    assert info.passes == 2
    assert not info.exact


def test_partition_selector_settles_into_single_pass_steps() -> None:
    rng = np.random.default_rng(5)
    sel = sgc.PartitionSelector()
    passes = []
    for _ in range(10):
        g = rng.laplace(scale=1e-3, size=100_000).astype(np.float32)
        g[:20_000] *= 3.0
        idx, vals = sel(g, 1000)
        assert 950 <= idx.size <= 1050
        assert np.array_equal(vals, g[idx])
        passes.append(sel.last_info.passes)
    assert passes[0] == 2
    assert sum(p == 1 for p in passes[3:]) >= 5
    assert sel.steps == 10
