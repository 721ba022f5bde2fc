"""Provision a board's frame key into a copy of its firmware image.

Every node image holds one empty key record (``firmware/app/lib/device_key.h``):
a 16-byte marker, a little-endian u32 length and 32 bytes of key. This tool
finds the record in an ELF or raw binary image, writes the key of a key file
(``sparrow.common.keys``: 64 hex characters, a board's ``<ID>.key``) into it
and saves the result as a new image; the built image stays key-free, so one
build serves every board. Flash the new image (or give it to QEMU's
``-kernel``); the board then tags every frame it sends.

Usage::

    python firmware/tools/provision_key.py --image build/mps2-an386/node.elf \\
        --key FLEET/keys/1234.key --out node-1234.elf
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

from sparrow.common.keys import KEY_BYTES, load_key

#: What firmware/app/lib/device_key.h calls DEVICE_KEY_MARKER, with its terminating NUL.
MARKER = b"SPARROW-KEY-REC\x00"
#: Bytes of the record: marker, length, key.
RECORD_BYTES = len(MARKER) + 4 + KEY_BYTES


def provision(image: bytes, key: bytes) -> bytes:
    """``image`` with ``key`` in its key record.

    Raises
    ------
    ValueError
        The image has no key record, or more than one, or the key is not
        32 bytes.
    """
    if len(key) != KEY_BYTES:
        raise ValueError(f"a board key is {KEY_BYTES} bytes, got {len(key)}")
    first = image.find(MARKER)
    if first < 0 or first + RECORD_BYTES > len(image):
        raise ValueError("the image has no key record (not a Sparrow node image?)")
    if image.find(MARKER, first + 1) >= 0:
        raise ValueError("the image holds the key record marker twice; refusing to guess")
    record = MARKER + struct.pack("<I", KEY_BYTES) + key
    return image[:first] + record + image[first + RECORD_BYTES:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", type=Path, required=True, help="built node image (.elf or .bin)")
    parser.add_argument("--key", required=True, help="the board's key file (<ID>.key)")
    parser.add_argument("--out", type=Path, required=True, help="the provisioned image to write")
    args = parser.parse_args(argv)
    try:
        image = args.image.read_bytes()
        args.out.write_bytes(provision(image, load_key(args.key)))
    except (OSError, ValueError) as exc:
        print(f"provision_key: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
