"""Tests of agent/common/datasets.py: loaders, node partitions and minibatches."""
from __future__ import annotations

import time

import numpy as np
import pytest

from sparrow.common import datasets
from sparrow.common.datasets import Dataset, batches, load, partition, round_batch


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load("digits")


@pytest.fixture(scope="module")
def watch() -> Dataset:
    return load("watch")


@pytest.fixture(scope="module")
def fashion() -> Dataset:
    return load("fashion_mnist")


def label_skew(ds: Dataset, parts: list[np.ndarray]) -> float:
    """Mean total-variation distance between each node's label mix and the global one."""
    overall = np.bincount(ds.y_train, minlength=ds.num_classes) / ds.y_train.size
    distances = [
        0.5 * np.abs(np.bincount(ds.y_train[p], minlength=ds.num_classes) / p.size - overall).sum()
        for p in parts
    ]
    return float(np.mean(distances))


def assert_exact_cover(parts: list[np.ndarray], n: int) -> None:
    joined = np.concatenate(parts)
    assert joined.dtype == np.int64
    assert joined.size == n
    np.testing.assert_array_equal(np.sort(joined), np.arange(n))


# -- loaders ---------------------------------------------------------------


def test_digits_has_8x8_single_channel_images_in_unit_range(digits: Dataset) -> None:
    assert digits.name == "digits"
    assert digits.x_train.shape[1:] == (1, 8, 8) == digits.input_shape
    assert digits.x_train.shape[0] + digits.x_test.shape[0] == 1797
    assert digits.x_train.dtype == np.float32 and digits.y_train.dtype == np.int64
    assert digits.x_train.min() >= 0.0 and digits.x_train.max() <= 1.0
    assert digits.num_classes == 10 and digits.groups_train is None


def test_digits_split_is_stratified_and_disjoint(digits: Dataset) -> None:
    train_share = np.bincount(digits.y_train) / np.bincount(np.concatenate([digits.y_train, digits.y_test]))
    assert np.all(np.abs(train_share - 0.8) < 0.02)
    train_rows = {row.tobytes() for row in digits.x_train}
    overlap = sum(row.tobytes() in train_rows for row in digits.x_test)
    # A handful of digits are pixel-identical duplicates in the source data.
    assert overlap <= 5


def test_loading_twice_gives_identical_arrays(digits: Dataset) -> None:
    again = load("digits")
    np.testing.assert_array_equal(again.x_train, digits.x_train)
    np.testing.assert_array_equal(again.y_test, digits.y_test)


def test_fashion_mnist_is_standardised_28x28_with_ten_balanced_classes(fashion: Dataset) -> None:
    assert fashion.x_train.shape == (60000, 1, 28, 28)
    assert fashion.x_test.shape == (10000, 1, 28, 28)
    assert fashion.x_train.dtype == np.float32 and fashion.y_test.dtype == np.int64
    assert abs(float(fashion.x_train.mean(dtype=np.float64))) < 1e-4
    assert abs(float(fashion.x_train.std(dtype=np.float64)) - 1.0) < 1e-4
    np.testing.assert_array_equal(np.bincount(fashion.y_train), np.full(10, 6000))
    # Background pixels (0 in the file) all map to one value, the lowest.
    assert fashion.x_train.min() == fashion.x_test.min()


def test_fashion_mnist_loads_within_three_seconds_of_cpu_time() -> None:
    # CPU time, not wall time: other jobs on a shared machine must not fail this.
    start = time.process_time()
    load("fashion_mnist")
    assert time.process_time() - start < 3.0


def test_missing_fashion_mnist_files_name_the_debian_package(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        datasets.load_fashion_mnist(str(tmp_path))


def test_watch_windows_are_six_channels_by_two_seconds(watch: Dataset) -> None:
    assert watch.x_train.shape[1:] == (6, datasets.WATCH_WINDOW) == (6, 100)
    assert watch.x_train.dtype == np.float32 and watch.y_train.dtype == np.int64
    assert watch.num_classes == 7
    assert watch.groups_train is not None and watch.groups_train.dtype == np.int64
    assert watch.num_groups == 10


def test_watch_channels_are_standardised_with_training_statistics(watch: Dataset) -> None:
    per_channel = watch.x_train.transpose(1, 0, 2).reshape(6, -1)
    assert np.all(np.abs(per_channel.mean(axis=1)) < 0.05)
    assert np.all(np.abs(per_channel.std(axis=1) - 1.0) < 0.05)


def test_watch_holds_out_the_end_of_every_recording_without_overlap(watch: Dataset) -> None:
    # Rebuild the split from the documented rule: the first 80% of each
    # recording is cut into training windows, the rest into test windows.
    raw = np.load(datasets._watch_file(), allow_pickle=True).item()
    recordings = [np.asarray(series, dtype=np.float64) for series in raw["X"]]
    cuts = [int(round((1.0 - datasets.WATCH_TEST_FRACTION) * len(r))) for r in recordings]
    train_counts = [1 + (cut - 100) // 50 for cut in cuts]
    test_counts = [1 + (len(r) - cut - 100) // 50 for r, cut in zip(recordings, cuts)]
    assert min(test_counts) >= 1
    assert watch.x_train.shape[0] == sum(train_counts)
    assert watch.x_test.shape[0] == sum(test_counts)
    assert set(np.unique(raw["subject"][[i for i, c in enumerate(test_counts) if c]]).tolist()) == set(range(1, 11))
    train_samples = np.concatenate([r[:cut] for r, cut in zip(recordings, cuts)])
    mean, std = train_samples.mean(axis=0), train_samples.std(axis=0)
    first, cut = recordings[0], cuts[0]
    np.testing.assert_allclose(watch.x_train[0], ((first[:100] - mean) / std).T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(watch.x_test[0], ((first[cut : cut + 100] - mean) / std).T, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(watch.groups_train[: train_counts[0]], raw["subject"][0])


def test_watch_first_windows_are_consecutive_slices_with_half_overlap(watch: Dataset) -> None:
    first, second = watch.x_train[0], watch.x_train[1]
    np.testing.assert_array_equal(first[:, 50:], second[:, :50])


def test_unknown_dataset_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="digits"):
        load("cifar")


def test_dataset_rejects_float64_images() -> None:
    with pytest.raises(ValueError, match="float32"):
        Dataset("bad", np.zeros((2, 3)), np.zeros(2, np.int64), np.zeros((1, 3), np.float32), np.zeros(1, np.int64), 2)


def test_dataset_rejects_labels_outside_the_class_range() -> None:
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="labels outside"):
        Dataset("bad", x, np.array([0, 5], np.int64), x, np.zeros(2, np.int64), 2)


# -- partitions ------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["iid", "dirichlet"])
@pytest.mark.parametrize("num_nodes", [1, 3, 10])
def test_partition_covers_each_training_index_exactly_once(digits: Dataset, scheme: str, num_nodes: int) -> None:
    parts = partition(digits, num_nodes, scheme, alpha=0.3, seed=4)
    assert len(parts) == num_nodes
    assert_exact_cover(parts, digits.y_train.size)


def test_group_partition_covers_each_training_index_exactly_once(watch: Dataset) -> None:
    for num_nodes in (1, 4, 10):
        assert_exact_cover(partition(watch, num_nodes, "group"), watch.y_train.size)


def test_iid_partition_gives_near_equal_shares(digits: Dataset) -> None:
    sizes = [p.size for p in partition(digits, 7, "iid")]
    assert max(sizes) - min(sizes) <= 1


def test_same_seed_gives_same_partition_and_another_seed_differs(digits: Dataset) -> None:
    first = partition(digits, 5, "dirichlet", alpha=0.5, seed=11)
    second = partition(digits, 5, "dirichlet", alpha=0.5, seed=11)
    other = partition(digits, 5, "dirichlet", alpha=0.5, seed=12)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_dirichlet_skew_grows_as_alpha_shrinks(fashion: Dataset) -> None:
    skews = [
        np.mean([label_skew(fashion, partition(fashion, 10, "dirichlet", alpha=alpha, seed=s)) for s in range(3)])
        for alpha in (100.0, 1.0, 0.1)
    ]
    assert skews[0] < skews[1] < skews[2]
    assert skews[0] < 0.05 and skews[2] > 0.5


def test_dirichlet_gives_every_node_at_least_a_few_samples(digits: Dataset) -> None:
    for seed in range(5):
        sizes = [p.size for p in partition(digits, 40, "dirichlet", alpha=0.01, seed=seed)]
        assert min(sizes) >= datasets.DIRICHLET_MIN_SAMPLES


def test_group_partition_keeps_each_subject_on_one_node(watch: Dataset) -> None:
    parts = partition(watch, 10, "group", seed=3)
    subjects = [set(np.unique(watch.groups_train[p]).tolist()) for p in parts]
    assert all(len(s) == 1 for s in subjects)
    assert set().union(*subjects) == set(np.unique(watch.groups_train).tolist())


def test_group_partition_with_fewer_nodes_never_splits_a_subject(watch: Dataset) -> None:
    parts = partition(watch, 3, "group")
    owners = {}
    for node, p in enumerate(parts):
        for subject in np.unique(watch.groups_train[p]).tolist():
            assert owners.setdefault(subject, node) == node


def test_group_partition_rejects_more_nodes_than_subjects(watch: Dataset) -> None:
    with pytest.raises(ValueError, match="exceeds the 10 groups"):
        partition(watch, 11, "group")


def test_group_partition_needs_a_dataset_with_groups(digits: Dataset) -> None:
    with pytest.raises(ValueError, match="has none"):
        partition(digits, 2, "group")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_nodes": 0}, "num_nodes"),
        ({"num_nodes": 10**6}, "num_nodes"),
        ({"num_nodes": 2.5}, "integer"),
        ({"num_nodes": 2, "scheme": "shards"}, "unknown partition scheme"),
        ({"num_nodes": 2, "scheme": "dirichlet", "alpha": 0.0}, "alpha"),
        ({"num_nodes": 2, "scheme": "dirichlet", "alpha": float("nan")}, "alpha"),
    ],
)
def test_partition_rejects_bad_arguments_with_a_clear_message(digits: Dataset, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        partition(digits, **kwargs)


# -- batches ---------------------------------------------------------------


def test_batches_cover_one_epoch_in_shuffled_order() -> None:
    x = np.arange(10, dtype=np.float32)[:, None]
    y = np.arange(10, dtype=np.int64)
    got = list(batches(x, y, 4, np.random.default_rng(0)))
    assert [b[0].shape[0] for b in got] == [4, 4, 2]
    seen = np.concatenate([b[1] for b in got])
    np.testing.assert_array_equal(np.sort(seen), y)
    assert not np.array_equal(seen, y)
    for xb, yb in got:
        np.testing.assert_array_equal(xb[:, 0].astype(np.int64), yb)


def test_batches_drop_last_skips_the_short_batch() -> None:
    x = np.zeros((10, 2), np.float32)
    y = np.zeros(10, np.int64)
    assert [b[0].shape[0] for b in batches(x, y, 4, np.random.default_rng(0), drop_last=True)] == [4, 4]


def test_batches_reject_mismatched_lengths_and_bad_sizes() -> None:
    x = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="samples"):
        next(batches(x, np.zeros(4, np.int64), 2, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="batch_size"):
        next(batches(x, np.zeros(3, np.int64), 0, np.random.default_rng(0)))


def test_a_rounds_batch_is_fixed_by_seed_device_and_round_and_has_no_repeats() -> None:
    pick = round_batch(100, 32, seed=0, device_id=3, rnd=7)
    assert pick.size == 32 and np.unique(pick).size == 32 and pick.min() >= 0 and pick.max() < 100
    assert np.array_equal(pick, round_batch(100, 32, seed=0, device_id=3, rnd=7))
    assert not np.array_equal(pick, round_batch(100, 32, seed=0, device_id=3, rnd=8))
    assert not np.array_equal(pick, round_batch(100, 32, seed=0, device_id=4, rnd=7))
    assert sorted(round_batch(5, 32, seed=1, device_id=1, rnd=1)) == [0, 1, 2, 3, 4]  # capped at the shard
