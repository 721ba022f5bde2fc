"""Typed wrapper of the selection section of the sgc core.

Selectors (:func:`select`), the residual (error-feedback) memory
(:class:`Residual`), the stateful partition selector (:class:`PartitionSelector`)
and value quantisation (:func:`quantize`, :func:`dequantize`). Every buffer
is allocated here from the sizes the C core reports; every status goes
through :func:`sgc._errors.check`, so bad input raises :class:`sgc.ArgumentError`
(a ``ValueError``) with C's own message and never reaches C unchecked.

Torch tensors are accepted wherever an array is: a CPU tensor is read through
``tensor.detach().numpy()``, a view that shares its memory (no copy).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from sgc._errors import ArgumentError, check, message
from sgc._sgc import ffi, lib

__all__ = [
    "METHODS", "CODINGS", "SelectInfo", "select", "select_with_info", "random_indices",
    "PartitionSelector", "Residual", "quantize", "dequantize", "value_bytes",
]

#: Selector methods by name (registry; values read from sgc.h).
METHODS: dict[str, int] = {
    "exact": lib.SGC_SELECT_EXACT,
    "laplace": lib.SGC_SELECT_LAPLACE,
    "partition": lib.SGC_SELECT_PARTITION,
    "dgc": lib.SGC_SELECT_DGC,
    "random": lib.SGC_SELECT_RANDOM,
}

#: Value codings by name; each value is the wire code of the coding.
CODINGS: dict[str, int] = {
    "fp32": lib.SGC_VAL_FP32,
    "fp16": lib.SGC_VAL_FP16,
    "int8": lib.SGC_VAL_INT8,
    "sign": lib.SGC_VAL_SIGN,
}

_U32_MAX = 0xFFFFFFFF
_U64_MAX = 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True)
class SelectInfo:
    """What one selection cost and chose.

    Attributes
    ----------
    passes : int
        Full read passes over the gradient.
    iterations : int
        Threshold refinements (counting passes or in-buffer bisection steps).
    exact : bool
        True when the result was finished by exact selection.
    threshold : float
        Smallest magnitude selected (0 for ``random``).
    """

    passes: int
    iterations: int
    exact: bool
    threshold: float


def _fail(status: int, context: str) -> None:
    check(status, context)


def _method_code(method: str) -> int:
    try:
        return METHODS[method]
    except (KeyError, TypeError):
        raise ArgumentError(f"method {method!r}: {message(lib.SGC_E_METHOD)}; "
                            f"choose one of {sorted(METHODS)}", lib.SGC_E_METHOD) from None


def _coding_code(coding: str) -> int:
    try:
        return CODINGS[coding]
    except (KeyError, TypeError):
        raise ArgumentError(f"coding {coding!r}: {message(lib.SGC_E_CODING)}; "
                            f"choose one of {sorted(CODINGS)}", lib.SGC_E_CODING) from None


def _as_vector(x: Any, name: str) -> np.ndarray:
    """A 1-D C-contiguous float32 numpy view of ``x`` (numpy array or torch tensor)."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # torch.Tensor, without importing torch
        try:
            x = x.detach().numpy()
        except (RuntimeError, TypeError) as exc:
            raise ArgumentError(f"{name}: tensor has no CPU numpy view ({exc})") from None
    if not isinstance(x, np.ndarray):
        raise ArgumentError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise ArgumentError(f"{name} must have dtype float32, got {x.dtype}")
    if x.ndim != 1:
        raise ArgumentError(f"{name} must be 1-D, got shape {x.shape}")
    if not x.flags.c_contiguous:
        raise ArgumentError(f"{name} must be contiguous (use np.ascontiguousarray)")
    return x


def _check_k(k: Any, n: int) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise ArgumentError(f"k must be an integer, got {type(k).__name__}", lib.SGC_E_K)
    if n == 0 or n > lib.SGC_MAX_N:
        check(lib.SGC_E_N, f"n={n}")
    if not 1 <= int(k) <= n:
        check(lib.SGC_E_K, f"k={int(k)}, n={n}")
    return int(k)


def _options(tol: float, max_iter: int | None, seed: int) -> Any:
    opt = ffi.new("sgc_select_options *")
    lib.sgc_select_options_init(opt)
    try:
        opt.tol = float(tol)
        if max_iter is not None:
            opt.max_iter = int(max_iter)
        opt.seed = int(seed) & _U64_MAX
    except (OverflowError, TypeError, ValueError) as exc:
        raise ArgumentError(f"{message(lib.SGC_E_OPTION)}: {exc}", lib.SGC_E_OPTION) from None
    return opt


def _capacity(k: int, tol: float) -> int:
    """Output entries enough for any selector: at most floor(k(1+tol)).

    An invalid tol gives room for k; C then rejects the call with its message."""
    t = float(tol)
    return k + (int(k * t) if 0.0 <= t < 1.0 else 0) + 1


class _Scratch(threading.local):
    """One reusable scratch buffer per thread (allocation of large buffers
    and their first-touch page faults would otherwise dominate small calls)."""

    def __init__(self) -> None:
        self.buf = np.empty(0, dtype=np.uint8)

    def get(self, nbytes: int) -> np.ndarray:
        if self.buf.nbytes < nbytes:
            self.buf = np.empty(nbytes, dtype=np.uint8)
        return self.buf


_scratch = _Scratch()


def _info(info: Any) -> SelectInfo:
    return SelectInfo(int(info.passes), int(info.iterations), bool(info.exact),
                      float(info.threshold))


def select_with_info(g: Any, k: int, method: str = "laplace", tol: float = 0.05,
                     seed: int = 0, max_iter: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray, SelectInfo]:
    """Like :func:`select`, also returning a :class:`SelectInfo`."""
    code = _method_code(method)
    vec = _as_vector(g, "g")
    k = _check_k(k, vec.size)
    opt = _options(tol, max_iter, seed)
    cap = _capacity(k, tol)
    idx = np.empty(cap, dtype=np.uint32)
    vals = np.empty(cap, dtype=np.float32)
    nbytes = lib.sgc_select_scratch_bytes(code, vec.size, k)
    scratch = _scratch.get(nbytes)
    count = ffi.new("uint32_t *")
    info = ffi.new("sgc_select_info *")
    status = lib.sgc_select(code, ffi.from_buffer("float[]", vec), vec.size, k, opt,
                            ffi.from_buffer(scratch), scratch.nbytes,
                            ffi.from_buffer("uint32_t[]", idx), ffi.from_buffer("float[]", vals),
                            cap, count, info)
    check(status, f"select(method={method!r}, n={vec.size}, k={k})")
    m = int(count[0])
    return idx[:m], vals[:m], _info(info)


def select(g: Any, k: int, method: str = "laplace", tol: float = 0.05, seed: int = 0,
           max_iter: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Select about ``k`` entries of largest magnitude from a gradient.

    Parameters
    ----------
    g : numpy.ndarray or torch.Tensor
        1-D contiguous float32 values, all finite.
    k : int
        Target count, ``1 <= k <= len(g)``.
    method : {"laplace", "exact", "partition", "dgc", "random"}
        Selector (docs/methods.md). ``exact`` and ``random`` return exactly k.
        ``partition`` starts from a cold predictor on every call here; keep a
        :class:`PartitionSelector` per layer for its single-pass steady state.
    tol : float
        Relative count tolerance of the approximate selectors, ``0 <= tol < 1``:
        they return between ``k`` and ``k + floor(k tol)`` entries (every entry
        at or above a magnitude threshold, so the exact top-k is always among
        them).
    seed : int
        64-bit seed (taken mod 2**64) of ``random`` and of ``dgc``'s sampling.
        The receiver regenerates the ``random`` indices with
        :func:`random_indices`, or from a frame made by ``encode_random_k``
        with the same seed.
    max_iter : int, optional
        Cap on threshold refinements before an exact finish (C default if None).

    Returns
    -------
    indices : numpy.ndarray of uint32
        Strictly ascending positions.
    values : numpy.ndarray of float32
        ``g[indices]``.

    Raises
    ------
    sgc.ArgumentError
        Wrong dtype/shape/contiguity, k out of range, n == 0, NaN or Inf in g,
        unknown method, tol out of range.
    """
    idx, vals, _ = select_with_info(g, k, method, tol, seed, max_iter)
    return idx, vals


def random_indices(seed: int, n: int, k: int) -> np.ndarray:
    """The ascending indices ``select(g, k, "random", seed=seed)`` picks for len(g) == n."""
    if n == 0 or n > lib.SGC_MAX_N:
        check(lib.SGC_E_N, f"n={n}")
    k = _check_k(k, int(n))
    idx = np.empty(k, dtype=np.uint32)
    check(lib.sgc_random_indices(int(seed) & _U64_MAX, int(n), k,
                                 ffi.from_buffer("uint32_t[]", idx), k), "random_indices")
    return idx


class PartitionSelector:
    """Partition selection with a persistent per-layer predictor.

    In steady state each call makes a single streaming pass over ``g``
    (docs/methods.md). Use one instance per layer.

    Parameters
    ----------
    tol : float
        Relative count tolerance, ``0 <= tol < 1``.
    max_iter : int, optional
        Cap on threshold refinements before an exact finish.
    """

    def __init__(self, tol: float = 0.05, max_iter: int | None = None) -> None:
        self._opt = _options(tol, max_iter, 0)
        self._tol = float(tol)
        self._state = ffi.new("sgc_partition_state *")
        lib.sgc_partition_init(self._state)
        self.last_info: SelectInfo | None = None

    def __call__(self, g: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Select about ``k`` entries from ``g``; see :func:`select`."""
        vec = _as_vector(g, "g")
        k = _check_k(k, vec.size)
        cap = _capacity(k, self._tol)
        idx = np.empty(cap, dtype=np.uint32)
        vals = np.empty(cap, dtype=np.float32)
        nbytes = lib.sgc_select_scratch_bytes(METHODS["partition"], vec.size, k)
        scratch = _scratch.get(nbytes)
        count = ffi.new("uint32_t *")
        info = ffi.new("sgc_select_info *")
        status = lib.sgc_select_partition(
            self._state, ffi.from_buffer("float[]", vec), vec.size, k, self._opt,
            ffi.from_buffer(scratch), scratch.nbytes, ffi.from_buffer("uint32_t[]", idx),
            ffi.from_buffer("float[]", vals), cap, count, info)
        check(status, f"partition(n={vec.size}, k={k})")
        self.last_info = _info(info)
        m = int(count[0])
        return idx[:m], vals[:m]

    @property
    def steps(self) -> int:
        """Selections made."""
        return int(self._state.steps)

    @property
    def reestimates(self) -> int:
        """Selections that needed a re-estimation pass (cold start included)."""
        return int(self._state.reestimates)

    @property
    def thresholds(self) -> tuple[float, float]:
        """Predicted thresholds of the (key, sparse) regions."""
        return float(self._state.threshold[0]), float(self._state.threshold[1])


class Residual:
    """Residual (error-feedback) memory over ``n`` values.

    Each :meth:`step` adds the gradient (or, with momentum, the DGC-corrected
    velocity) to the residual, selects from it, quantises the selected values
    with ``coding`` and subtracts exactly what a receiver decodes, so that
    ``residual_after + sent == residual_before + added`` holds bit for bit.

    Parameters
    ----------
    n : int
        Length of the layer or flattened model.
    method : str
        Selector, one of :data:`METHODS`.
    density : float
        Final fraction of values sent per step, ``0 < density <= 1``.
    momentum : float
        DGC momentum correction factor, ``0 <= momentum < 1`` (0: off).
    coding : str
        Value coding, one of :data:`CODINGS`.
    warmup_steps : int
        Steps per warm-up stage (densities 25%, 6.25%, 1.56%, ... down to
        ``density``); 0 disables the warm-up.
    momentum_masking : bool
        Clear the velocity where values were sent.
    tol, max_iter, seed :
        Selector options, as in :func:`select`.
    """

    def __init__(self, n: int, method: str = "laplace", density: float = 0.01,
                 momentum: float = 0.0, coding: str = "fp32", warmup_steps: int = 0,
                 momentum_masking: bool = True, tol: float = 0.05,
                 max_iter: int | None = None, seed: int = 0) -> None:
        cfg = ffi.new("sgc_residual_config *")
        lib.sgc_residual_config_init(cfg)
        cfg.method = _method_code(method)
        cfg.coding = _coding_code(coding)
        try:
            cfg.density = float(density)
            cfg.momentum = float(momentum)
            cfg.warmup_steps = int(warmup_steps)
            cfg.momentum_masking = bool(momentum_masking)
            cfg.select = _options(tol, max_iter, seed)[0]
            n = int(n)
            if not 0 < n <= lib.SGC_MAX_N:
                check(lib.SGC_E_N, f"n={n}")
        except (OverflowError, TypeError) as exc:
            raise ArgumentError(f"{message(lib.SGC_E_OPTION)}: {exc}", lib.SGC_E_OPTION) from None
        self._cfg = cfg
        self._res = np.zeros(n, dtype=np.float32)
        self._vel = np.zeros(n if momentum > 0 else 0, dtype=np.float32)
        self._state = ffi.new("sgc_residual *")
        check(lib.sgc_residual_init(self._state, n, cfg, ffi.from_buffer("float[]", self._res),
                                    ffi.from_buffer("float[]", self._vel) if momentum > 0
                                    else ffi.NULL), "Residual")
        self._scratch = np.empty(lib.sgc_residual_scratch_bytes(cfg, n), dtype=np.uint8)
        self.coding = coding
        self.method = method
        self._tol = float(tol)
        self.last_payload = b""
        self.last_scale = 0.0

    @property
    def n(self) -> int:
        """Number of values."""
        return int(self._state.n)

    @property
    def k(self) -> int:
        """Target count of the next step (warm-up aware)."""
        return int(lib.sgc_residual_k(self._state))

    @property
    def steps(self) -> int:
        """Steps taken since construction or :meth:`reset`."""
        return int(self._state.step)

    @property
    def residual(self) -> np.ndarray:
        """Read-only numpy view of the residual (no copy)."""
        view = self._res.view()
        view.flags.writeable = False
        return view

    @property
    def velocity(self) -> np.ndarray:
        """Read-only numpy view of the momentum velocity (empty without momentum)."""
        view = self._vel.view()
        view.flags.writeable = False
        return view

    def reset(self) -> None:
        """Zero residual, velocity, step counter and predictor."""
        check(lib.sgc_residual_reset(self._state), "Residual.reset")

    def step(self, g: Any) -> tuple[np.ndarray, np.ndarray]:
        """Add ``g`` and return the (indices, decoded values) to send.

        The encoded values of this step are then in :attr:`last_payload` and
        their scale in :attr:`last_scale`. A NaN/Inf in ``g`` (or an update that
        would overflow) raises :class:`sgc.ArgumentError` and changes nothing.
        """
        vec = _as_vector(g, "g")
        if vec.size != self.n:
            raise ArgumentError(f"g has {vec.size} values, the residual {self.n}", lib.SGC_E_N)
        k = self.k
        cap = _capacity(k, self._tol)
        idx = np.empty(cap, dtype=np.uint32)
        vals = np.empty(cap, dtype=np.float32)
        payload = np.empty(max(lib.sgc_value_bytes(self._cfg.coding, cap), 1), dtype=np.uint8)
        count = ffi.new("uint32_t *")
        plen = ffi.new("size_t *")
        scale = ffi.new("float *")
        status = lib.sgc_residual_step(
            self._state, ffi.from_buffer("float[]", vec), ffi.from_buffer(self._scratch),
            self._scratch.nbytes, ffi.from_buffer("uint32_t[]", idx),
            ffi.from_buffer("float[]", vals), cap, count, ffi.from_buffer(payload),
            payload.nbytes, plen, scale)
        check(status, f"Residual.step(method={self.method!r}, n={self.n}, k={k})")
        m = int(count[0])
        self.last_payload = payload[:int(plen[0])].tobytes()
        self.last_scale = float(scale[0])
        return idx[:m], vals[:m]


def value_bytes(coding: str, k: int) -> int:
    """Payload bytes of ``k`` values in ``coding``."""
    return int(lib.sgc_value_bytes(_coding_code(coding), int(k)))


def quantize(values: Any, coding: str = "int8") -> tuple[bytes, float]:
    """Encode values with a value coding.

    Parameters
    ----------
    values : numpy.ndarray or torch.Tensor
        1-D contiguous finite float32 values.
    coding : {"fp32", "fp16", "int8", "sign"}
        Value coding (docs/methods.md).

    Returns
    -------
    payload : bytes
        ``value_bytes(coding, len(values))`` bytes.
    scale : float
        The per-message scale (1 for fp32/fp16).
    """
    code = _coding_code(coding)
    vec = _as_vector(values, "values")
    if vec.size > _U32_MAX:
        check(lib.SGC_E_K, "too many values")
    out = np.empty(max(lib.sgc_value_bytes(code, vec.size), 1), dtype=np.uint8)
    plen = ffi.new("size_t *")
    scale = ffi.new("float *")
    check(lib.sgc_quantize(code, ffi.from_buffer("float[]", vec), vec.size,
                           ffi.from_buffer(out), out.nbytes, plen, scale), f"quantize({coding})")
    return out[:int(plen[0])].tobytes(), float(scale[0])


def dequantize(payload: bytes, k: int, coding: str = "int8", scale: float = 1.0) -> np.ndarray:
    """Decode ``k`` values of ``coding`` from ``payload`` with the message ``scale``."""
    code = _coding_code(coding)
    if not isinstance(k, (int, np.integer)) or not 0 <= int(k) <= _U32_MAX:
        raise ArgumentError(f"k must be an integer in [0, 2^32), got {k!r}", lib.SGC_E_K)
    buf = bytes(payload)
    out = np.empty(int(k), dtype=np.float32)
    check(lib.sgc_dequantize(code, ffi.from_buffer(buf) if buf else ffi.NULL, len(buf), int(k),
                             float(scale), ffi.from_buffer("float[]", out) if k else ffi.NULL),
          f"dequantize({coding})")
    return out
