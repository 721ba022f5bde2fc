"""The QEMU TCG plugin counts guest instructions of the firmware's regions."""

from __future__ import annotations



import insns  # noqa: E402
import qemu  # noqa: E402

BOARD = "mps2-an386"


def test_plugin_reports_one_count_per_region_and_training_dominates():
    qemu.build((BOARD,))
    insns.build_plugin()
    counted = insns.count(BOARD)
    names = [fields[0] for fields, _ in counted]
    assert names.count("train_step") == names.count("select_encode") >= 2
    train = [n for fields, n in counted if fields[0] == "train_step"]
    select = [n for fields, n in counted if fields[0] == "select_encode"]
    n_params = int(dict(zip(counted[0][0][1::2], counted[0][0][2::2]))["n"])
    # Selection reads every gradient element at least once.
    assert all(s > n_params for s in select)
    # A 16-sample step of the watch CNN is far more work than one selection,
    # and the same code on the same shapes costs nearly the same each time.
    assert min(train) > 20 * max(select)
    assert max(train) - min(train) < 0.01 * min(train)


def test_the_hmac_tag_of_an_update_frame_costs_a_bounded_count_per_64_byte_block():
    qemu.build((BOARD,))
    insns.build_plugin()
    counted = insns.count(BOARD)
    hmac = [(int(dict(zip(f[1::2], f[2::2]))["bytes"]), n) for f, n in counted if f[0] == "hmac"]
    select = [n for fields, n in counted if fields[0] == "select_encode"]
    assert len(hmac) == len(select) >= 2
    for size, n in hmac:
        # HMAC-SHA256 runs ceil((size + 9) / 64) + 3 SHA-256 blocks (inner, key pads, outer).
        blocks = (size + 9 + 63) // 64 + 3
        assert 1000 * blocks < n < 10000 * blocks, (size, n)
