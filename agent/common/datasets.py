"""Training data for every Sparrow node: loaders, node partitions, minibatches.

Three offline data sets, each from an installed package (nothing is fetched):

``digits``
    scikit-learn's 8x8 handwritten digits, for fast tests. Pixels scaled to
    [0, 1]; a fixed stratified 80/20 train/test split (seed 0).
``fashion_mnist``
    Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (idx .gz
    files under /usr/share/datasets/fashion-mnist). Pixels scaled to [0, 1],
    then standardised with the training set's mean and standard deviation.
``watch``
    The smartwatch IMU set shipped inside the PyPI package ``seglearn``
    (6 axes at 50 Hz, 140 recordings of 10 subjects doing 7 shoulder
    exercises). See :func:`load_watch` for the windowing and split.

The module needs numpy only (scikit-learn just for ``digits``) and never
imports torch, so it runs on Linux single-board agents as well as on the host.
"""
from __future__ import annotations

import gzip
import importlib.util
import os
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

__all__ = [
    "Dataset",
    "LOADERS",
    "SCHEMES",
    "WATCH_WINDOW",
    "WATCH_STRIDE",
    "WATCH_TEST_FRACTION",
    "batches",
    "load",
    "load_digits",
    "load_fashion_mnist",
    "load_watch",
    "partition",
    "round_batch",
]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

#: Window length of the watch set in samples: 2 s at 50 Hz, about one
#: repetition of a shoulder exercise.
WATCH_WINDOW = 100
#: Hop between watch windows in samples: 50% overlap.
WATCH_STRIDE = 50
#: Share of each watch recording (its last part in time) held out for testing.
WATCH_TEST_FRACTION = 0.2

_DIGITS_TEST_FRACTION = 0.2
_DIGITS_SEED = 0


@dataclass(frozen=True)
class Dataset:
    """One data set, already split into training and test samples.

    Parameters
    ----------
    name : str
        Registry name the data set was loaded under.
    x_train : np.ndarray
        float32, shape ``(N, *input_shape)``.
    y_train : np.ndarray
        int64 class labels in ``[0, num_classes)``, shape ``(N,)``.
    x_test : np.ndarray
        float32, shape ``(M, *input_shape)``.
    y_test : np.ndarray
        int64 class labels, shape ``(M,)``.
    num_classes : int
        Number of classes (at least 2).
    groups_train : np.ndarray or None
        int64 group id per training sample (the subject for ``watch``), or
        None when the data set has no natural groups.

    Raises
    ------
    ValueError
        If dtypes, shapes or labels are inconsistent.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    groups_train: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"{self.name}: num_classes must be >= 2, got {self.num_classes}")
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if x.dtype != np.float32:
                raise ValueError(f"{self.name}: x_{split} must be float32, got {x.dtype}")
            if y.dtype != np.int64:
                raise ValueError(f"{self.name}: y_{split} must be int64, got {y.dtype}")
            if y.ndim != 1 or x.ndim < 2 or x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"{self.name}: x_{split} {x.shape} and y_{split} {y.shape} disagree on the sample count"
                )
            if y.size and (y.min() < 0 or y.max() >= self.num_classes):
                raise ValueError(f"{self.name}: y_{split} holds labels outside [0, {self.num_classes})")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"{self.name}: train samples {self.x_train.shape[1:]} and test samples "
                f"{self.x_test.shape[1:]} differ in shape"
            )
        if self.groups_train is not None and self.groups_train.shape != self.y_train.shape:
            raise ValueError(
                f"{self.name}: groups_train {self.groups_train.shape} must match y_train {self.y_train.shape}"
            )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. ``(1, 28, 28)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_groups(self) -> int:
        """Number of distinct training groups (0 when there are none)."""
        return 0 if self.groups_train is None else int(np.unique(self.groups_train).size)


# --------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------


def _stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted (train, test) indices holding out ``test_fraction`` of every class."""
    rng = np.random.default_rng(seed)
    test_parts = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test_parts.append(members[: int(round(test_fraction * members.size))])
    test = np.sort(np.concatenate(test_parts))
    train = np.setdiff1d(np.arange(y.size), test, assume_unique=True)
    return train, test


def load_digits() -> Dataset:
    """Load scikit-learn's 8x8 digits, shape ``(N, 1, 8, 8)``, pixels in [0, 1].

    Returns
    -------
    Dataset
        1438 training and 359 test samples, 10 classes, no groups.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    raw = sklearn_digits()
    x = (raw.images.astype(np.float32) / np.float32(16.0))[:, None, :, :]
    y = raw.target.astype(np.int64)
    train, test = _stratified_split(y, _DIGITS_TEST_FRACTION, _DIGITS_SEED)
    return Dataset("digits", x[train], y[train], x[test], y[test], num_classes=10)


def _read_idx(path: str, expected_ndim: int) -> np.ndarray:
    """Read one gzip-compressed idx file of unsigned bytes into a uint8 array."""
    with gzip.open(path, "rb") as fh:
        blob = fh.read()
    if len(blob) < 4 + 4 * expected_ndim:
        raise ValueError(f"{path}: truncated idx header")
    magic = int.from_bytes(blob[0:4], "big")
    if magic != 0x0800 | expected_ndim:
        raise ValueError(f"{path}: not an idx file of {expected_ndim}-D unsigned bytes (magic {magic:#010x})")
    dims = tuple(int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(expected_ndim))
    offset = 4 + 4 * expected_ndim
    if len(blob) - offset != int(np.prod(dims)):
        raise ValueError(f"{path}: {len(blob) - offset} data bytes, header says {dims}")
    return np.frombuffer(blob, dtype=np.uint8, offset=offset).reshape(dims)


def _fashion_mnist_split(directory: str, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Return one split as raw pixel values 0..255 in float32 (N, 1, 28, 28) and int64 labels."""
    images = _read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"), 3)
    labels = _read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"), 1)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{directory}: {prefix} has {images.shape[0]} images but {labels.shape[0]} labels")
    return images.astype(np.float32)[:, None, :, :], labels.astype(np.int64)


def _pixel_moments(x: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of raw pixel values, accumulated exactly in float64.

    Squares of integers up to 255 are exact in float32, so only the sums need
    the wider type; this keeps the load well under its 3 s budget.
    """
    flat = x.reshape(-1)
    mean = float(flat.sum(dtype=np.float64)) / flat.size
    mean_square = float(np.square(flat).sum(dtype=np.float64)) / flat.size
    return mean, float(np.sqrt(mean_square - mean * mean))


def load_fashion_mnist(directory: str = FASHION_MNIST_DIR) -> Dataset:
    """Load Fashion-MNIST, shape ``(N, 1, 28, 28)``, standardised.

    Pixels are scaled to [0, 1], then shifted and scaled by the training set's
    mean and standard deviation (one scalar each), applied to both splits.

    Parameters
    ----------
    directory : str
        Folder with the four idx .gz files.

    Returns
    -------
    Dataset
        60000 training and 10000 test samples, 10 classes, no groups.

    Raises
    ------
    FileNotFoundError
        If the files are missing (install the Debian package
        ``dataset-fashion-mnist``, e.g. with ``make apt-deps``).
    """
    needed = [
        f"{split}-{kind}-idx{dim}-ubyte.gz"
        for split in ("train", "t10k")
        for kind, dim in (("images", 3), ("labels", 1))
    ]
    missing = [name for name in needed if not os.path.isfile(os.path.join(directory, name))]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files {missing} not found in {directory}; install the Debian package "
            "'dataset-fashion-mnist' (apt-get install dataset-fashion-mnist, or `make apt-deps`)"
        )
    x_train, y_train = _fashion_mnist_split(directory, "train")
    x_test, y_test = _fashion_mnist_split(directory, "t10k")
    # Scaling to [0, 1] and then standardising is one affine map of the raw
    # pixels: (p / 255 - m) / s == (p - 255 m) / (255 s).
    mean, std = _pixel_moments(x_train)
    shift, scale = np.float32(mean), np.float32(1.0 / std)
    for x in (x_train, x_test):
        x -= shift
        x *= scale
    return Dataset("fashion_mnist", x_train, y_train, x_test, y_test, num_classes=10)


def _watch_file() -> str:
    """Path of the data file inside the installed seglearn package.

    seglearn's ``load_watch()`` only ``np.load``s this file, but importing
    seglearn pulls in pandas (which seglearn 1.2.5 does not declare); reading
    the file directly keeps agents free of that dependency.
    """
    spec = importlib.util.find_spec("seglearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the watch data set ships in the PyPI package 'seglearn'; pip install seglearn==1.2.5")
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "watch_dataset.npy")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} missing: reinstall the PyPI package 'seglearn'")
    return path


def _windows(series: np.ndarray) -> np.ndarray:
    """Cut a (T, 6) recording into (W, 6, WATCH_WINDOW) windows, WATCH_STRIDE apart."""
    count = 0 if series.shape[0] < WATCH_WINDOW else 1 + (series.shape[0] - WATCH_WINDOW) // WATCH_STRIDE
    starts = np.arange(count) * WATCH_STRIDE
    picks = starts[:, None] + np.arange(WATCH_WINDOW)[None, :]
    return np.ascontiguousarray(series[picks].transpose(0, 2, 1))


def load_watch() -> Dataset:
    """Load the seglearn smartwatch IMU set as fixed windows, shape ``(N, 6, 100)``.

    Choices:

    * windows of ``WATCH_WINDOW`` = 100 samples (2 s at 50 Hz) every
      ``WATCH_STRIDE`` = 50 samples (50% overlap); a window's label is its
      recording's exercise (7 classes);
    * a time-ordered split of every recording: its first 80% of samples give
      the training windows, its last 20% the test windows, each cut
      separately, so no window straddles the boundary and every subject has
      test windows;
    * each of the 6 channels standardised with the mean and standard
      deviation of the training samples (the raw samples of the training
      parts, each counted once);
    * ``groups_train`` holds the subject id (1..10) of every training window.

    Returns
    -------
    Dataset
        About 3.9k training and 0.8k test windows, 7 classes, 10 groups.
    """
    raw = np.load(_watch_file(), allow_pickle=True).item()
    train_parts, test_parts = [], []
    y_train, y_test, groups = [], [], []
    for series, label, subject in zip(raw["X"], raw["y"], raw["subject"]):
        series = np.asarray(series, dtype=np.float64)
        cut = int(round((1.0 - WATCH_TEST_FRACTION) * series.shape[0]))
        train_parts.append(series[:cut])
        test_parts.append(series[cut:])
        n_train = _windows(series[:cut]).shape[0]
        n_test = _windows(series[cut:]).shape[0]
        y_train.append(np.full(n_train, label, dtype=np.int64))
        y_test.append(np.full(n_test, label, dtype=np.int64))
        groups.append(np.full(n_train, subject, dtype=np.int64))
    train_samples = np.concatenate(train_parts)
    mean = train_samples.mean(axis=0)
    std = train_samples.std(axis=0)

    def windows_of(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([_windows((part - mean) / std) for part in parts]).astype(np.float32)

    return Dataset(
        "watch",
        windows_of(train_parts),
        np.concatenate(y_train),
        windows_of(test_parts),
        np.concatenate(y_test),
        num_classes=len(raw["y_labels"]),
        groups_train=np.concatenate(groups),
    )


#: Registry of data set loaders by name.
LOADERS: dict[str, Callable[[], Dataset]] = {
    "digits": load_digits,
    "fashion_mnist": load_fashion_mnist,
    "watch": load_watch,
}


def load(name: str) -> Dataset:
    """Load a data set by its registry name.

    Parameters
    ----------
    name : str
        One of ``LOADERS``: "digits", "fashion_mnist", "watch".

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        If the name is unknown.
    FileNotFoundError
        If the package that ships the data is not installed.
    """
    try:
        loader = LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(LOADERS)}") from None
    return loader()


# --------------------------------------------------------------------------
# Partitions: which training samples each node holds
# --------------------------------------------------------------------------

#: A node is topped up to at least this many samples by the dirichlet scheme
#: (or N // num_nodes when that is smaller), so no node is left idle.
DIRICHLET_MIN_SAMPLES = 10


def _iid(ds: Dataset, num_nodes: int, alpha: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle, then cut into num_nodes near-equal shares."""
    return list(np.array_split(rng.permutation(ds.y_train.size), num_nodes))


def _dirichlet(ds: Dataset, num_nodes: int, alpha: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Split each class among the nodes in Dirichlet(alpha) proportions.

    Small alpha gives each node few classes (strong label skew); large alpha
    approaches iid. Nodes left below the minimum are topped up with random
    samples taken from the largest node, so every index still appears once.
    """
    shares: list[list[np.ndarray]] = [[] for _ in range(num_nodes)]
    for label in range(ds.num_classes):
        members = rng.permutation(np.flatnonzero(ds.y_train == label))
        proportions = rng.dirichlet(np.full(num_nodes, alpha))
        cuts = np.round(np.cumsum(proportions)[:-1] * members.size).astype(np.int64)
        for node, part in enumerate(np.split(members, cuts)):
            shares[node].append(part)
    nodes = [np.concatenate(parts) for parts in shares]
    minimum = min(DIRICHLET_MIN_SAMPLES, ds.y_train.size // num_nodes)
    for node in range(num_nodes):
        while nodes[node].size < minimum:
            donor = int(np.argmax([part.size for part in nodes]))
            take = min(minimum - nodes[node].size, nodes[donor].size - minimum)
            order = rng.permutation(nodes[donor].size)
            nodes[node] = np.concatenate([nodes[node], nodes[donor][order[:take]]])
            nodes[donor] = nodes[donor][order[take:]]
    return nodes


def _group(ds: Dataset, num_nodes: int, alpha: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Give every node whole groups: one each when num_nodes equals the group count."""
    if ds.groups_train is None:
        raise ValueError(f"scheme 'group' needs groups_train, and data set {ds.name!r} has none")
    groups = rng.permutation(np.unique(ds.groups_train))
    if num_nodes > groups.size:
        raise ValueError(
            f"scheme 'group' gives each node its own group: num_nodes={num_nodes} exceeds "
            f"the {groups.size} groups of {ds.name!r}"
        )
    return [
        np.flatnonzero(np.isin(ds.groups_train, node_groups))
        for node_groups in np.array_split(groups, num_nodes)
    ]


#: Registry of partition schemes by name.
SCHEMES: dict[str, Callable[[Dataset, int, float, np.random.Generator], list[np.ndarray]]] = {
    "iid": _iid,
    "dirichlet": _dirichlet,
    "group": _group,
}


def partition(
    ds: Dataset, num_nodes: int, scheme: str = "iid", alpha: float = 0.5, seed: int = 0
) -> list[np.ndarray]:
    """Assign every training sample to exactly one node.

    Parameters
    ----------
    ds : Dataset
        The data set whose training samples are shared out.
    num_nodes : int
        Number of nodes, 1 <= num_nodes <= len(ds.y_train).
    scheme : str
        One of ``SCHEMES``: "iid" (uniform shuffle), "dirichlet" (per-class
        Dirichlet(alpha) label skew, every node gets at least
        min(10, N // num_nodes) samples) or "group" (whole groups, e.g. one
        watch subject per node; needs num_nodes <= number of groups).
    alpha : float
        Dirichlet concentration, > 0; used by "dirichlet" only.
    seed : int
        Seed of the shuffle: the same arguments give the same partition.

    Returns
    -------
    list of np.ndarray
        ``num_nodes`` sorted int64 arrays of training-sample indices; their
        union is ``range(N)`` and they do not overlap.

    Raises
    ------
    ValueError
        On an unknown scheme or an argument out of range.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown partition scheme {scheme!r}; choose one of {sorted(SCHEMES)}")
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, (int, np.integer)):
        raise ValueError(f"num_nodes must be an integer, got {num_nodes!r}")
    if not 1 <= num_nodes <= ds.y_train.size:
        raise ValueError(f"num_nodes must be in [1, {ds.y_train.size}] for {ds.name!r}, got {num_nodes}")
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a finite number > 0, got {alpha!r}")
    nodes = SCHEMES[scheme](ds, int(num_nodes), float(alpha), np.random.default_rng(seed))
    return [np.sort(node).astype(np.int64) for node in nodes]


def batches(
    x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator, drop_last: bool = False
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield shuffled minibatches ``(x[idx], y[idx])`` covering one epoch.

    Parameters
    ----------
    x, y : np.ndarray
        Samples and labels with the same first dimension.
    batch_size : int
        Samples per batch, >= 1.
    rng : np.random.Generator
        Source of the shuffle.
    drop_last : bool
        Skip the final batch when it is smaller than ``batch_size``.

    Raises
    ------
    ValueError
        If the lengths differ or batch_size < 1.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    order = rng.permutation(x.shape[0])
    stop = x.shape[0] - x.shape[0] % batch_size if drop_last else x.shape[0]
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], y[idx]


def round_batch(count: int, batch_size: int, seed: int, device_id: int, rnd: int) -> np.ndarray:
    """Positions (in ``range(count)``) of the mini-batch a node trains on in round ``rnd``.

    Drawn without replacement, at most ``count`` of them, from a generator
    seeded by ``(seed, device_id, rnd)``: a round's batch is the same however
    often the round is retried, and an in-process simulation that calls
    this draws exactly the batches of ``sparrow agent``.
    """
    rng = np.random.default_rng([seed, device_id, rnd])
    return rng.choice(count, size=min(batch_size, count), replace=False)
