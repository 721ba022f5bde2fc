"""Selection speed and quality of sgc's top-k selectors on real gradients.

Reads the gradients dumped by bench/gradients.py and, for every gradient
source, density and method, prints one JSON object per line::

    .venv/bin/python -m bench.gradients                     # once: dumps bench/out/gradients/
    .venv/bin/python -m bench.select --out bench/out/select.jsonl
    .venv/bin/python -m bench.select --quick                # n <= 1.1e6, a few seconds

Times are the least thread CPU time (time.thread_time_ns) over repeats, so
other jobs on a shared machine inflate them as little as possible; medians and
wall time are reported beside. What is measured,
all on one thread (torch.set_num_threads(1); numpy and the
sgc core are single-threaded):

* ``kind: "selector"`` rows, one per (source, density, method, state).
  ``cold``: ``sgc.select_with_info(g, k, method=..., tol=0.05, seed=0)``, no
  state. ``steady``: an ``sgc.PartitionSelector`` warmed on the earlier
  gradients of the same model, timed on its next call (on the last
  gradient). ``residual``: an ``sgc.Residual(n, method=..., density=...,
  momentum=0.0)`` warmed with ``.step()`` on the earlier gradients, timed on
  its next step (error feedback included). Every steady/residual repeat
  starts from a freshly warmed state, so no timed call meets a gradient its
  state has already seen. Fields:
  ``ns_per_elem`` (least thread CPU time / n; ``median_ns_per_elem`` and
  ``wall_ns_per_elem`` beside it), ``vs_torch_topk`` and
  ``vs_numpy_argpartition`` (baseline time / selector time on the same array
  in the same run: above 1 means the selector is faster), ``vs_read_pass``
  (selector time / one read pass), ``k_ratio`` (entries returned / target k)
  ``norm_share`` (squared L2 norm of the returned values / that of the
  exact top-k of the array it selected from), and what the core reports:
  ``passes`` over g, threshold ``iterations``, ``exact_finish``.
* ``kind: "baseline"`` rows: ``torch.topk(t.abs(), k)`` on
  ``t = torch.from_numpy(g)``, ``np.argpartition(np.abs(g), n - k)[n - k:]``
  (both include the ``abs``, as a magnitude top-k must) and ``read_pass``:
  ``g.sum()``, numpy's vectorised C reduction, which reads every element once
  and does almost nothing else, i.e. the cost of one streaming pass.
* one ``kind: "meta"`` row first: versions, CPU, timing rule.
"""
from __future__ import annotations

import os
import sys


for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import functools
import gc
import hashlib
import json
import platform
import time
from dataclasses import dataclass
from typing import Any, Callable, TextIO

import numpy as np
import torch

import sgc
import sgc._sgc

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_GRADIENTS = os.path.join(HERE, "out", "gradients")
DENSITIES = (0.01, 0.001, 0.0001)
METHODS = ("exact", "laplace", "partition", "dgc", "random")
#: Methods also measured inside a warmed sgc.Residual (error feedback included).
RESIDUAL_METHODS = ("laplace", "partition")
TOL = 0.05
SEED = 0
#: Fewest interleaved timing rounds per (source, density).
MIN_ROUNDS = 5


@dataclass(frozen=True)
class Source:
    """One dumped gradient and the earlier dumps of the same model."""

    model: str
    step: int
    path: str
    earlier: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.model}@{self.step}"


@dataclass(frozen=True)
class Timing:
    """Repeated calls of one thing.

    ``ns`` is the least thread CPU time, the figure every ratio uses: other
    jobs on a shared machine only ever add time (cache and memory-bus
    contention, a busy sibling hyperthread), so the least time is the best
    estimate of the code's own cost. The median CPU time and the median wall
    time are kept beside it to show the spread.
    """

    ns: float
    median_ns: float
    wall_ns: float
    repeats: int

    @classmethod
    def of(cls, cpu: list[int], wall: list[int]) -> "Timing":
        return cls(float(min(cpu)), float(np.median(cpu)), float(np.median(wall)), len(cpu))

    def per_elem(self, n: int) -> dict[str, Any]:
        """The JSON fields of this timing for an array of n elements."""
        return {"ns_per_elem": self.ns / n, "median_ns_per_elem": self.median_ns / n,
                "wall_ns_per_elem": self.wall_ns / n, "repeats": self.repeats}


def timed(call: Callable[[], Any]) -> tuple[int, int, Any]:
    """Run ``call`` once: (thread CPU ns, wall ns, result)."""
    c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
    result = call()
    return time.thread_time_ns() - c0, time.perf_counter_ns() - w0, result


def read_sources(folder: str, models: list[str] | None) -> list[Source]:
    """The last gradient of every model in ``folder/manifest.json``, smallest model first."""
    manifest_path = os.path.join(folder, "manifest.json")
    if not os.path.isfile(manifest_path):
        sys.exit(f"{manifest_path} not found: run `.venv/bin/python -m bench.gradients` first")
    with open(manifest_path) as fh:
        manifest = json.load(fh)
    by_model: dict[str, list[dict[str, Any]]] = {}
    for entry in manifest:
        by_model.setdefault(entry["model"], []).append(entry)
    sources = []
    for model, entries in by_model.items():
        if models and model not in models:
            continue
        entries.sort(key=lambda e: e["step"])
        last = entries[-1]
        earlier = tuple(os.path.join(folder, e["file"]) for e in entries[:-1])
        sources.append(Source(model, last["step"], os.path.join(folder, last["file"]), earlier))
    sources.sort(key=lambda s: np.load(s.path, mmap_mode="r").size)
    return sources


def interleaved_times(calls: dict[str, Callable[[], object]], min_seconds: float, min_rounds: int,
                      max_rounds: int) -> dict[str, Timing]:
    """Times of each call, taken in interleaved rounds with the GC off.

    Each call runs once untimed, then every round times each call once, so a
    change in the machine's load (other jobs on a shared box) hits the
    baselines and the selectors alike and their ratios stay fair. Rounds go on
    until ``min_rounds`` are done and every call has had ``min_seconds``, or
    ``max_rounds`` are done.
    """
    for call in calls.values():
        call()
    cpu: dict[str, list[int]] = {name: [] for name in calls}
    wall: dict[str, list[int]] = {name: [] for name in calls}
    gc.disable()
    try:
        rounds = 0
        while rounds < max_rounds and (
            rounds < min_rounds or min(sum(v) for v in cpu.values()) < min_seconds * 1e9
        ):
            for name, call in calls.items():
                cpu_ns, wall_ns, _ = timed(call)
                cpu[name].append(cpu_ns)
                wall[name].append(wall_ns)
            rounds += 1
    finally:
        gc.enable()
    return {name: Timing.of(cpu[name], wall[name]) for name in calls}


def target_k(n: int, density: float) -> int:
    """The k a density asks for: density * n rounded half up, at least 1.

    A Residual derives its own k from its density (the core rounds in its
    own way); the residual rows use and report that k.
    """
    return max(1, int(density * n + 0.5))


def top_energy(array: np.ndarray, k: int) -> float:
    """Squared L2 norm of the exact top-k magnitudes of ``array``, in float64."""
    top = np.partition(np.abs(array), array.size - k)[array.size - k :]
    return float(np.square(top, dtype=np.float64).sum())


def quality(indices: np.ndarray, values: np.ndarray, target: np.ndarray, k: int) -> dict[str, float]:
    """k ratio and captured norm share of one selection from ``target``.

    ``norm_share`` compares with the exact top-k (the issue's measure: it
    exceeds 1 when a selector returns more than k entries);
    ``norm_share_top_m`` compares with the exact top-m for the m entries
    actually returned, so it is 1 exactly when the selection is a true top-m.

    Also checks what the API promises (ascending unique uint32 indices,
    float32 values equal to the selected entries), so a wrong selector cannot
    post a good number.
    """
    if indices.dtype != np.uint32 or values.dtype != np.float32 or indices.shape != values.shape:
        raise AssertionError(f"bad output types {indices.dtype}/{values.dtype} or shapes")
    if indices.size and (np.any(np.diff(indices.astype(np.int64)) <= 0) or indices[-1] >= target.size):
        raise AssertionError("indices are not ascending, unique and in range")
    if not np.array_equal(values, target[indices]):
        raise AssertionError("returned values differ from the selected entries")
    energy = float(np.square(values, dtype=np.float64).sum())
    best_same_count = top_energy(target, indices.size) if indices.size else 0.0
    return {
        "k_ratio": indices.size / k,
        "norm_share": energy / top_energy(target, k),
        "norm_share_top_m": energy / best_same_count if best_same_count else 1.0,
    }


def info_fields(info: sgc.SelectInfo) -> dict[str, Any]:
    """What the core reports about one selection: its passes over g and refinements."""
    return {"passes": info.passes, "iterations": info.iterations, "exact_finish": info.exact}


class Bench:
    """Runs every measurement and writes the JSON lines."""

    def __init__(self, sinks: list[TextIO], min_seconds: float, max_rounds: int, warm_repeats: int) -> None:
        self.sinks = sinks
        self.min_seconds = min_seconds
        self.max_rounds = max_rounds
        self.warm_repeats = warm_repeats

    def emit(self, row: dict[str, Any]) -> None:
        line = json.dumps(row)
        for sink in self.sinks:
            print(line, file=sink, flush=True)

    def time_warmed(self, fresh: Callable[[], Callable[[], Any]]) -> tuple[Timing, Any]:
        """Times of the first real call of freshly warmed states.

        ``fresh()`` builds a state, warms it and returns the call to time.
        Every repeat starts from a new state, so the timed call always meets
        a gradient its state has not seen (repeating one call on one state
        would let the predictor fit the very array it is timed on).
        Returns the timing and the first repeat's result.
        """
        cpu: list[int] = []
        wall: list[int] = []
        first = None
        while len(cpu) < 3 or (sum(cpu) < self.min_seconds * 1e9 and len(cpu) < self.warm_repeats):
            call = fresh()
            gc.disable()
            cpu_ns, wall_ns, result = timed(call)
            gc.enable()
            cpu.append(cpu_ns)
            wall.append(wall_ns)
            first = result if first is None else first
        return Timing.of(cpu, wall), first

    def run_source(self, source: Source, densities: tuple[float, ...], methods: tuple[str, ...]) -> None:
        g = np.load(source.path)
        earlier = [np.load(path) for path in source.earlier]
        n = g.size
        tensor = torch.from_numpy(g)
        for density in densities:
            k = target_k(n, density)
            print(f"  {source.name} n={n} density={density} k={k}", file=sys.stderr, flush=True)
            row = {"source": source.name, "n": n, "density": density, "k": k}
            calls: dict[str, Callable[[], Any]] = {
                "read_pass": g.sum,
                "torch.topk": lambda: torch.topk(tensor.abs(), k, sorted=False),
                "numpy.argpartition": lambda: np.argpartition(np.abs(g), n - k)[n - k :],
            }
            baselines = tuple(calls)
            for method in methods:
                calls[method] = functools.partial(sgc.select_with_info, g, k, method=method, tol=TOL, seed=SEED)
            timings = interleaved_times(calls, self.min_seconds, MIN_ROUNDS, self.max_rounds)
            for name in baselines:
                self.emit({"kind": "baseline", "method": name, **row, **timings[name].per_elem(n)})

            def ratios(timing: Timing) -> dict[str, Any]:
                return {**timing.per_elem(n), "vs_torch_topk": timings["torch.topk"].ns / timing.ns,
                        "vs_numpy_argpartition": timings["numpy.argpartition"].ns / timing.ns,
                        "vs_read_pass": timing.ns / timings["read_pass"].ns}

            for method in methods:
                indices, values, info = calls[method]()
                self.emit({"kind": "selector", "method": method, "state": "cold", **row,
                           **ratios(timings[method]), **quality(indices, values, g, k), **info_fields(info)})
            if "partition" in methods:
                self.emit({"kind": "selector", "method": "partition", "state": "steady", **row,
                           **self.partition_steady(g, earlier, k, ratios)})
            for method in (m for m in RESIDUAL_METHODS if m in methods):
                self.emit({"kind": "selector", "method": method, "state": "residual", **row,
                           **self.residual_steady(g, earlier, method, density, k, ratios)})

    def partition_steady(self, g: np.ndarray, earlier: list[np.ndarray], k: int,
                         ratios: Callable[[Timing], dict[str, Any]]) -> dict[str, Any]:
        """``sgc.PartitionSelector`` warmed on the model's earlier gradients, timed on ``g``."""

        def fresh() -> Callable[[], tuple[np.ndarray, np.ndarray, sgc.SelectInfo]]:
            selector = sgc.PartitionSelector(tol=TOL)
            for old in earlier:
                selector(old, k)

            def call() -> tuple[np.ndarray, np.ndarray, sgc.SelectInfo]:
                indices, values = selector(g, k)
                assert selector.last_info is not None
                return indices, values, selector.last_info

            return call

        timing, (indices, values, info) = self.time_warmed(fresh)
        return {**ratios(timing), **quality(indices, values, g, k), **info_fields(info),
                "warmup_steps": len(earlier)}

    def residual_steady(self, g: np.ndarray, earlier: list[np.ndarray], method: str, density: float, k: int,
                        ratios: Callable[[Timing], dict[str, Any]]) -> dict[str, Any]:
        """``sgc.Residual`` (error feedback included) warmed on earlier gradients, one step on ``g`` timed.

        Quality is judged against the exact top-k of what the step selected
        from: the residual before the step plus ``g``, in float32.
        """
        targets: list[np.ndarray] = []
        resolved: list[int] = []

        def fresh() -> Callable[[], tuple[np.ndarray, np.ndarray]]:
            state = sgc.Residual(g.size, method=method, density=density, momentum=0.0, tol=TOL, seed=SEED)
            if abs(state.k - k) > 1:
                raise AssertionError(f"Residual targets k={state.k} for density {density}, the benchmark k={k}")
            resolved.append(state.k)
            for old in earlier:
                state.step(old)
            if not targets:
                targets.append(state.residual + g)
            return lambda: state.step(g)

        timing, (indices, values) = self.time_warmed(fresh)
        return {**ratios(timing), **quality(indices, values, targets[0], resolved[0]), "k": resolved[0],
                "warmup_steps": len(earlier)}


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or the architecture elsewhere."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def core_digest() -> str:
    """SHA-256 (first 16 hex digits) of the C core's sources, naming the core measured.

    Taken over shared_c/include and shared_c/src in name order, so a run can
    be matched to the core it timed even between commits.
    """
    root = os.path.join(HERE, os.pardir, "shared_c")
    digest = hashlib.sha256()
    for folder in ("include", "src"):
        for name in sorted(os.listdir(os.path.join(root, folder))):
            with open(os.path.join(root, folder, name), "rb") as fh:
                digest.update(name.encode() + b"\0" + fh.read())
    return digest.hexdigest()[:16]


def file_digest(path: str) -> str:
    """SHA-256 (first 16 hex digits) of one file: the extension module actually loaded."""
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()[:16]


def meta(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "kind": "meta",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "core_sources_sha256": core_digest(),
        "extension_sha256": file_digest(sgc._sgc.__file__),
        "load_average": os.getloadavg()[0],
        "timing": f"least thread CPU time of >= {MIN_ROUNDS} interleaved rounds and >= {args.min_seconds} s per call "
                  f"after one warm-up call, GC off; steady/residual: least over 3..{args.warm_repeats} "
                  "freshly warmed states",
        "tol": TOL,
        "seed": SEED,
        "argv": sys.argv[1:],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gradients", default=DEFAULT_GRADIENTS, help="folder written by bench/gradients.py")
    parser.add_argument("--out", help="also write the JSON lines to this file")
    parser.add_argument("--quick", action="store_true", help="models up to 1.1e6 elements, shorter timing")
    parser.add_argument("--models", nargs="+", help="only these models (default: every model dumped)")
    parser.add_argument("--densities", nargs="+", type=float, default=list(DENSITIES))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--min-seconds", type=float, default=0.3, help="timing budget per measurement")
    parser.add_argument("--max-rounds", type=int, default=50, help="most interleaved timing rounds")
    parser.add_argument("--warm-repeats", type=int, default=7,
                        help="most freshly warmed states timed per steady-state measurement (>= 3)")
    args = parser.parse_args(argv)
    if args.quick:
        args.models = args.models or ["cnn", "mlp"]
        args.min_seconds = min(args.min_seconds, 0.05)
    torch.set_num_threads(1)
    sinks: list[TextIO] = [sys.stdout]
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        sinks.append(open(args.out, "w"))
    bench = Bench(sinks, args.min_seconds, max_rounds=args.max_rounds, warm_repeats=args.warm_repeats)
    bench.emit(meta(args))
    for source in read_sources(args.gradients, args.models):
        bench.run_source(source, tuple(args.densities), tuple(args.methods))
    for sink in sinks[1:]:
        sink.close()


if __name__ == "__main__":
    main()
