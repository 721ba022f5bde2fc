"""Key files, tagging a made frame, and the host's check of a node's frame (no broker)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sgc

from sparrow.common.frame_auth import DeviceVerifier, Gate, sealer
from sparrow.common.keys import KEY_BYTES, KeyRing, load_key, write_key
from sparrow.host.rounds import UNAUTHENTICATED, UpdateBook

KEY = bytes(range(100, 132))


def test_a_written_key_reads_back_and_is_never_overwritten(tmp_path: Path) -> None:
    path = str(tmp_path / "7.key")
    key = write_key(path)
    assert len(key) == KEY_BYTES and load_key(path) == key
    assert (tmp_path / "7.key").read_text() == key.hex() + "\n"
    assert os.stat(path).st_mode & 0o077 == 0
    with pytest.raises(ValueError, match="7.key"):
        write_key(path)


@pytest.mark.parametrize("content", [b"", b"abc\n", b"zz" * 32 + b"\n", b"00" * 33 + b"\n", b"\xff" * 64,
                                     b"00" * 200])
def test_a_key_file_that_is_not_64_hex_characters_is_refused_in_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"bad.key: expected 64 hex characters") as info:
        load_key(str(path))
    assert "\n" not in str(info.value)


def test_a_missing_key_file_or_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothere.key"):
        load_key(str(tmp_path / "nothere.key"))
    with pytest.raises(ValueError, match="not a directory"):
        KeyRing(str(tmp_path / "nothere"))
    (tmp_path / "keys").mkdir()
    with pytest.raises(ValueError, match="no job.key"):
        DeviceVerifier.from_folder(str(tmp_path / "keys"))


def test_a_key_folder_maps_device_ids_to_keys_and_ignores_other_files(tmp_path: Path) -> None:
    ring = KeyRing.make(str(tmp_path), [3, 12])
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "03.key").write_text("00" * 32 + "\n")  # not a device id as the topic writes it
    again = KeyRing(str(tmp_path))
    assert sorted(again.devices) == [3, 12] and again.job == ring.job
    assert again.device(3) == ring.device(3) and again.device(4) is None
    assert len({ring.job, ring.device(3), ring.device(12)}) == 3


@pytest.mark.parametrize("frame", [
    sgc.encode_sparse(50, np.array([1, 7], np.uint32), np.array([0.5, -2.0], np.float32), device_id=3, round=9),
    sgc.encode_sparse(50, np.array([1, 7], np.uint32), np.array([0.5, -2.0], np.float32), value_coding="int8",
                      device_id=3, compact=True),
    sgc.encode_dense(np.arange(300, dtype=np.float32), value_coding="fp16", round=4, segment_id=1, segment_count=2),
    sgc.encode_control(sgc.MSG_HELLO, b"\x01\x02\x03", device_id=70000),
    sgc.encode_control(sgc.MSG_ACK, b"\x01", compact="auto"),
])
def test_signing_a_made_frame_gives_the_bytes_the_encoder_writes_with_the_key(frame: bytes) -> None:
    plain = sgc.decode(frame)
    signed = sgc.sign(frame, KEY)
    assert len(signed) == len(frame) + 32
    assert sgc.decode(signed, key=KEY).authenticated
    if plain.msg_type in (sgc.MSG_HELLO, sgc.MSG_ACK):
        again = sgc.encode_control(plain.msg_type, bytes(plain.payload), device_id=plain.device_id,
                                   compact=plain.compact, key=KEY)
        assert signed == again
    with pytest.raises(sgc.FrameError) as info:
        sgc.verify(signed, bytes(32))
    assert info.value.unauthenticated
    with pytest.raises(sgc.ArgumentError, match="already carries"):
        sgc.sign(signed, KEY)


def test_signing_matches_the_encoder_for_a_sparse_update() -> None:
    args = (50, np.array([1, 7], np.uint32), np.array([0.5, -2.0], np.float32))
    assert sgc.sign(sgc.encode_sparse(*args, device_id=3, seq=2), KEY) == sgc.encode_sparse(*args, device_id=3, seq=2,
                                                                                           key=KEY)


def test_the_verifier_refuses_untagged_wrong_and_keyless_frames_when_tags_are_required(tmp_path: Path) -> None:
    ring = KeyRing.make(str(tmp_path), [1])
    verifier = DeviceVerifier.from_folder(str(tmp_path))
    hello = sgc.encode_control(sgc.MSG_HELLO, b"", device_id=1)
    assert verifier.problem(1, sgc.sign(hello, ring.device(1))) is None
    assert verifier.problem(1, hello).startswith("auth:")
    assert verifier.problem(1, sgc.sign(hello, ring.job)).startswith("auth:")
    assert verifier.problem(2, sgc.sign(hello, ring.device(1))) == "auth: no key for device 2"
    assert verifier.problem(1, b"junk" * 5).startswith("malformed:")
    lenient = DeviceVerifier(ring, required=False)
    assert lenient.problem(1, hello) is None and lenient.problem(2, hello) is None
    assert lenient.problem(1, sgc.sign(hello, ring.job)).startswith("auth:")  # a tag present must verify
    assert DeviceVerifier(None).problem(1, b"anything") is None


def test_an_update_that_does_not_authenticate_is_rejected_without_a_trace_of_its_device(tmp_path: Path) -> None:
    ring = KeyRing.make(str(tmp_path), [1])
    book = UpdateBook(10, "apply", 2, lambda d: 1.0, auth=DeviceVerifier(ring).problem)
    update = sgc.encode_sparse(10, np.array([0], np.uint32), np.array([1.0], np.float32), device_id=1, round=1)
    assert book.offer(1, update) == UNAUTHENTICATED
    assert book.offer(1, sgc.sign(update, ring.job)) == UNAUTHENTICATED
    assert book.counts["rejected"] == 2 and book.reasons == {"auth": 2}
    assert book.per_device == {} and book.received == 0
    assert book.offer(1, sgc.sign(update, ring.device(1))) == "accepted"
    assert dict(book.per_device[1]) == {"accepted": 1}


def test_a_gate_passes_frames_under_its_key_and_drops_the_rest() -> None:
    seen: list[bytes] = []
    gate = Gate(KEY, "node")
    handler = gate.guard(lambda topic, frame: seen.append(frame))
    model = sgc.encode_dense(np.ones(4, np.float32), round=1)
    handler("m", model)
    handler("m", sgc.sign(model, bytes(32)))
    handler("m", b"\x00" * 30)
    handler("m", sgc.sign(model, KEY))
    assert gate.dropped == 3 and seen == [sgc.sign(model, KEY)]
    open_gate = Gate(None, "node")
    assert open_gate.passes("m", model) and open_gate.dropped == 0
    assert sealer(None) is None and sealer(KEY)(model) == sgc.sign(model, KEY)  # type: ignore[misc]


@pytest.mark.parametrize("command, flag", [("host", "--device-keys"), ("agent", "--key"), ("agent", "--job-key")])
def test_a_bad_key_option_is_one_line_and_exit_code_2(tmp_path: Path, command: str, flag: str) -> None:
    (tmp_path / "bad.key").write_text("not a key\n")
    target = str(tmp_path) if flag == "--device-keys" else str(tmp_path / "bad.key")
    extra = ["--model", "mlp_digits"] if command == "agent" else ["--run-dir", str(tmp_path / "run")]
    done = subprocess.run([sys.executable, "-m", "sparrow.common.cli", command, flag, target, *extra,
                           "--broker-port", "1", "--broker-connect-timeout-s", "1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    line = _one_error_line(done)
    assert "bad.key" in line or "no job.key" in line, line


def test_a_gateway_given_a_key_folder_that_is_not_there_says_so_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "sparrow.common.cli", "gateway", "--board", "loop://",
                           "--device-keys", str(tmp_path / "nothere")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "nothere: not a directory" in _one_error_line(done)


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip() and "WARNING" not in line]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, lines
    return lines[0]
