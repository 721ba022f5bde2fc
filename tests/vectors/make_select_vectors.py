"""Golden vectors of the selection core, made by an independent numpy reference.

Writes select_vectors.json (language-neutral: float32 values as their bit
patterns in hex, so every reader gets them bit-exact) and select_vectors.h (the
same data as C arrays for shared_c/tests). Both are checked by the C tests (on
the host, under sanitizers and on QEMU) and by tests/test_select_vectors.py.

Contents:
  select    gradients with their exact top-k by magnitude (ties to the lowest
            index), the reference for `exact` and the yardstick (band, captured
            norm) for the approximate selectors
  random    (seed, n, k) -> the ascending random-k indices, from a Python
            reimplementation of the core's generator and strata
  quant     values -> payload bytes, scale and decoded values for each coding,
            from numpy float32 arithmetic mirroring docs/methods.md

Run: python3 tests/vectors/make_select_vectors.py   (deterministic)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
F32 = np.float32
M64 = 0xFFFFFFFFFFFFFFFF


def bits(a: np.ndarray) -> list[str]:
    return [f"0x{int(u):08x}" for u in np.asarray(a, dtype=F32).view(np.uint32)]


def exact_topk(g: np.ndarray, k: int) -> np.ndarray:
    order = np.lexsort((np.arange(g.size), -np.abs(g.astype(np.float64))))
    return np.sort(order[:k]).astype(np.uint32)


def select_cases() -> list[dict]:
    rng = np.random.default_rng(20261122)
    cases = []

    def add(name: str, g: np.ndarray, k: int) -> None:
        g = np.asarray(g, dtype=F32)
        cases.append({"name": name, "n": int(g.size), "k": int(k), "g": g,
                      "topk": exact_topk(g, k)})

    add("laplace_n1000_k10", rng.laplace(0.0, 0.01, 1000), 10)
    add("heavy_tail_n4096_k41", rng.standard_t(2.0, 4096) * 1e-3, 41)
    add("quarter_ties_n512_k37", np.round(rng.normal(0, 1, 512) * 4) / 4, 37)
    z = np.zeros(300)
    z[rng.choice(300, 20, replace=False)] = rng.normal(0, 1, 20)
    add("mostly_zeros_n300_k50", z, 50)
    add("shifted_mean_n2000_k200", rng.laplace(0.05, 0.01, 2000), 200)
    add("single_n1_k1", np.array([-3.5]), 1)
    add("k_equals_n_n64", rng.normal(0, 1, 64), 64)
    return cases


def rng_stream(seed: int):
    """SplitMix64 from a 64-bit seed (docs/PROTOCOL.md 4.3)."""
    state = seed & M64
    while True:
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        yield z ^ (z >> 31)


def random_indices(seed: int, n: int, k: int) -> list[int]:
    stream = rng_stream(seed)
    out = []
    for j in range(k):
        lo, hi = j * n // k, (j + 1) * n // k
        out.append(lo + next(stream) % (hi - lo))
    return out


def random_cases() -> list[dict]:
    return [{"seed": s, "n": n, "k": k, "indices": random_indices(s, n, k)}
            for s, n, k in [(0, 1000, 10), (12345, 100, 100), (7, 65536, 3),
                            (0xDEADBEEF, 5, 1), (42, 999, 333)]]


def ulp(x: np.float32) -> np.float32:
    return np.spacing(F32(x))


def q_fp32(v: np.ndarray):
    return v.astype("<f4").tobytes(), F32(1.0), v.copy()


def q_fp16(v: np.ndarray):
    v = v.copy()
    for i, x in enumerate(v):
        if abs(x) >= F32(2.0 ** 29):  # saturate on x's own grid: x - sent stays exact
            u = ulp(abs(x))
            v[i] = np.copysign(F32(np.floor(F32(65504.0) / u) * u), x)
    h = np.clip(v, F32(-65504.0), F32(65504.0)).astype("<f2")
    return h.tobytes(), F32(1.0), h.astype(F32)


def q_int8(v: np.ndarray):
    mx = np.max(np.abs(v)) if v.size else F32(0)
    s = F32(mx / F32(127.0))
    q = np.zeros(v.size, dtype=np.int8)
    if s > 0:
        for i, x in enumerate(v):
            r = F32(x / s)
            t = int(F32(r + (F32(0.5) if r >= 0 else F32(-0.5))))  # C truncation
            t = max(-127, min(127, t))
            if abs(t) == 1 and F32(F32(2.0) * abs(x)) < s:
                t = 0
            q[i] = t
    dec = (q.astype(F32) * s).astype(F32)
    return q.tobytes(), s, dec


def q_sign(v: np.ndarray):
    a = np.abs(v).astype(F32)
    total = F32(0.0)
    for x in a:
        total = F32(total + x)
    mx = np.max(a)
    if mx == 0:
        m = F32(0.0)
    else:
        m0 = F32(total / F32(v.size))
        two_min = F32(F32(2.0) * np.min(a))
        m0 = min(m0, two_min, mx)
        u = ulp(mx)
        m = F32(np.floor(F32(m0 / u)) * u)
    signs = np.packbits(v < 0, bitorder="little")
    dec = np.where(v < 0, -m, m).astype(F32)
    return signs.tobytes(), m, dec


CODERS = {"fp32": (0, q_fp32), "fp16": (1, q_fp16), "int8": (2, q_int8), "sign": (3, q_sign)}


def quant_cases() -> list[dict]:
    rng = np.random.default_rng(7)
    sets = {
        "normal_40": rng.normal(0, 3, 40),
        "edges_14": np.array([0.0, -0.0, 1e-8, -6e-8, 65504.0, 70000.0, -1e5, 0.5,
                              -0.25, 3.0e-5, 1.0, -1.0, 7.5e8, -3e12]),
        "laplace_tail_9": np.sign(rng.normal(size=9)) * (0.07 + rng.exponential(0.01, 9)),
    }
    out = []
    for name, vals in sets.items():
        v = np.asarray(vals, dtype=F32)
        for coding, (code, fn) in CODERS.items():
            payload, scale, dec = fn(v)
            out.append({"name": f"{name}_{coding}", "coding": coding, "code": code,
                        "values": v, "payload": payload, "scale": F32(scale), "decoded": dec})
    return out


def to_json(sel, ran, qu) -> dict:
    return {
        "generated_by": "tests/vectors/make_select_vectors.py (numpy reference)",
        "select": [{"name": c["name"], "n": c["n"], "k": c["k"], "g": bits(c["g"]),
                    "topk": [int(i) for i in c["topk"]]} for c in sel],
        "random": ran,
        "quant": [{"name": c["name"], "coding": c["coding"], "code": c["code"],
                   "values": bits(c["values"]), "payload": c["payload"].hex(),
                   "scale": bits(np.array([c["scale"]]))[0], "decoded": bits(c["decoded"])}
                  for c in qu],
    }


def c_array(ctype: str, name: str, items: list[str]) -> str:
    items = items or ["0"]
    lines = [", ".join(items[i:i + 8]) for i in range(0, len(items), 8)]
    return f"static const {ctype} {name}[] = {{\n    " + ",\n    ".join(lines) + "\n};\n"


def to_header(doc: dict) -> str:
    out = ["/* select_vectors.h - generated by tests/vectors/make_select_vectors.py",
           " * (numpy reference); do not edit. Floats are float32 bit patterns. */",
           "#ifndef SELECT_VECTORS_H", "#define SELECT_VECTORS_H", "", "#include <stdint.h>", ""]
    out.append("typedef struct { const char *name; uint32_t n, k; const uint32_t *g; "
               "const uint32_t *topk; } select_vector;")
    out.append("typedef struct { uint64_t seed; uint32_t n, k; const uint32_t *indices; } "
               "random_vector;")
    out.append("typedef struct { const char *name; uint32_t code, k; const uint32_t *values; "
               "const uint8_t *payload; uint32_t payload_len; uint32_t scale; "
               "const uint32_t *decoded; } quant_vector;\n")
    for i, c in enumerate(doc["select"]):
        out.append(c_array("uint32_t", f"sv{i}_g", c["g"]))
        out.append(c_array("uint32_t", f"sv{i}_topk", [f"{x}u" for x in c["topk"]]))
    out.append("static const select_vector select_vectors[] = {")
    for i, c in enumerate(doc["select"]):
        out.append(f'    {{"{c["name"]}", {c["n"]}u, {c["k"]}u, sv{i}_g, sv{i}_topk}},')
    out.append("};\n")
    for i, c in enumerate(doc["random"]):
        out.append(c_array("uint32_t", f"rv{i}", [f"{x}u" for x in c["indices"]]))
    out.append("static const random_vector random_vectors[] = {")
    for i, c in enumerate(doc["random"]):
        out.append(f'    {{UINT64_C(0x{c["seed"]:016x}), {c["n"]}u, {c["k"]}u, rv{i}}},')
    out.append("};\n")
    for i, c in enumerate(doc["quant"]):
        out.append(c_array("uint32_t", f"qv{i}_values", c["values"]))
        pb = bytes.fromhex(c["payload"])
        out.append(c_array("uint8_t", f"qv{i}_payload", [f"0x{b:02x}" for b in pb]))
        out.append(c_array("uint32_t", f"qv{i}_decoded", c["decoded"]))
    out.append("static const quant_vector quant_vectors[] = {")
    for i, c in enumerate(doc["quant"]):
        out.append(f'    {{"{c["name"]}", {c["code"]}u, {len(c["values"])}u, qv{i}_values, '
                   f'qv{i}_payload, {len(bytes.fromhex(c["payload"]))}u, {c["scale"]}u, '
                   f'qv{i}_decoded}},')
    out.append("};\n")
    out.append("#define SELECT_VECTOR_COUNT (sizeof select_vectors / sizeof select_vectors[0])")
    out.append("#define RANDOM_VECTOR_COUNT (sizeof random_vectors / sizeof random_vectors[0])")
    out.append("#define QUANT_VECTOR_COUNT (sizeof quant_vectors / sizeof quant_vectors[0])")
    out.append("\n#endif /* SELECT_VECTORS_H */\n")
    return "\n".join(out)


def main() -> None:
    doc = to_json(select_cases(), random_cases(), quant_cases())
    (HERE / "select_vectors.json").write_text(json.dumps(doc, indent=1) + "\n")
    (HERE / "select_vectors.h").write_text(to_header(doc))


if __name__ == "__main__":
    main()
