"""A random-k selection travels as its seed: the `random` selector and the
STRATIFIED index coding share one generator (SplitMix64) and one 64-bit seed."""
from __future__ import annotations

import numpy as np
import pytest

import sgc

SEEDS = [0, 1, 0xDEADBEEF, 2**32, 0x0123456789ABCDEF, 2**64 - 1]
SIZES = [(1, 1), (10, 10), (999, 333), (100_000, 1000)]


def gradient(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed % 2**32).laplace(0.0, 1.0, n).astype(np.float32)


@pytest.mark.parametrize("n,k", SIZES)
@pytest.mark.parametrize("seed", SEEDS, ids=hex)
def test_a_random_selection_travels_as_its_seed(seed: int, n: int, k: int) -> None:
    g = gradient(n, seed)
    idx, vals = sgc.select(g, k, method="random", seed=seed)
    frame = sgc.encode_random_k(n, seed, vals)
    got = sgc.decode(frame)
    assert got.index_coding == "stratified" and got.seed == seed
    assert got.indices.tolist() == idx.tolist()
    assert got.values.tobytes() == vals.tobytes()


@pytest.mark.parametrize("seed", SEEDS, ids=hex)
def test_random_indices_and_stratified_indices_are_the_same_positions(seed: int) -> None:
    assert sgc.random_indices(seed, 100_000, 1000).tolist() == \
        sgc.stratified_indices(seed, 100_000, 1000).tolist()


def test_seeds_that_differ_above_32_bits_select_different_positions() -> None:
    a = sgc.random_indices(5, 100_000, 1000)
    b = sgc.random_indices(5 + 2**32, 100_000, 1000)
    assert a.tolist() != b.tolist()
