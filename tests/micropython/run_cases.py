"""MicroPython: the twin against frames and verdicts of the C codec.

tests/test_frame_twin.py makes the cases with ``sgc`` (the C codec) and
writes them as JSON lines; this script replays each on the twin:

- ``encode``: encode the same inputs; the bytes must equal C's frame, and
  decoding C's frame must give C's indices and float32 value bits.
- ``reject``: decoding must fail with C's status code (or succeed when C's
  status is 0).

Usage: micropython tests/micropython/run_cases.py AGENT_DIR CASES_FILE
"""
import json
import sys
from array import array

sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else ".")
from mp_check import check, finish, use_agent  # noqa: E402

use_agent(sys.argv[1])
import frame_twin as ft  # noqa: E402


def f32_array(hexbytes):
    return array("f", bytes.fromhex(hexbytes))


def encode(case):
    key = bytes.fromhex(case["key"]) if case["key"] is not None else None
    fields = case["fields"]
    op = case["op"]
    if op == "sparse":
        return ft.encode_sparse(case["n"], array("I", case["indices"]), f32_array(case["values"]),
                                case["value_coding"], key=key, **fields)
    if op == "dense":
        return ft.encode_dense(f32_array(case["values"]), case["value_coding"], key=key, **fields)
    if op == "random_k":
        return ft.encode_random_k(case["n"], int(case["seed"], 16), f32_array(case["values"]),
                                  case["value_coding"], key=key, **fields)
    return ft.encode_control(fields.pop("msg_type"), bytes.fromhex(case["payload"]), key=key,
                             **fields)


def first_difference(a, b):
    for j in range(min(len(a), len(b))):
        if a[j] != b[j]:
            return j
    return min(len(a), len(b))


def run_encode(i, case):
    name = "case %d %s %s" % (i, case["op"], case.get("value_coding", ""))
    frame = bytes.fromhex(case["frame"])
    mine = encode(case)
    check(name + " encodes as C does", mine == frame,
          "first difference at byte %d" % first_difference(mine, frame))
    key = bytes.fromhex(case["key"]) if case["key"] is not None else None
    f = ft.decode(frame, key)
    check(name + " decodes C's indices", list(f.indices) == case["decoded_indices"])
    check(name + " decodes C's values bit for bit", bytes(f.values).hex() == case["decoded_values"])


def run_reject(i, case):
    key = bytes.fromhex(case["key"]) if case["key"] is not None else None
    try:
        ft.decode(bytes.fromhex(case["frame"]), key)
        got = 0
    except ft.FrameError as exc:
        got = exc.status
    check("case %d mutation gets C's verdict %d" % (i, case["status"]), got == case["status"],
          "twin says %d" % got)


with open(sys.argv[2]) as fh:
    count = 0
    for line in fh:
        case = json.loads(line)
        if case["op"] == "reject":
            run_reject(count, case)
        else:
            run_encode(count, case)
        count += 1
check("cases found", count > 0)
finish()
