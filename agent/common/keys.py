"""Frame keys: the files that hold them, how they are checked and made.

A key is 32 random bytes kept as a text file of 64 hex characters and a
newline. A fleet's keys live in one folder (``sparrow fleet`` writes
``FLEET/keys/``):

* ``job.key``: the host's key; the host tags every frame it sends with it and
  nodes that hold it verify what they receive (docs/security-frames.md);
* ``<ID>.key``: the key of device ``ID`` (decimal, the frame header's
  ``device_id``); that node tags what it sends with it, the host verifies.

Every problem with a key file is one ``ValueError`` line naming the file.
"""
from __future__ import annotations

import os
import re
import secrets

__all__ = ["JOB_KEY_NAME", "KEY_BYTES", "KeyRing", "device_key_name", "generate_key", "load_key", "write_key"]

#: Bytes of a key (the HMAC-SHA256 block is larger, the output as large: 32 is the useful size).
KEY_BYTES = 32
#: File name of the job (host) key in a key folder.
JOB_KEY_NAME = "job.key"
_HEX = re.compile(r"[0-9a-fA-F]{64}")
_DEVICE_FILE = re.compile(r"(0|[1-9][0-9]{0,9})\.key")
#: Largest key file read: 64 hex characters, a newline, a little slack for CR LF and blanks.
_MAX_FILE_BYTES = 256


def device_key_name(device: int) -> str:
    """File name of device ``device``'s key in a key folder."""
    return f"{device}.key"


def load_key(path: str) -> bytes:
    """Read and check one key file.

    Raises
    ------
    ValueError
        The file is missing, unreadable, or not 64 hex characters (one line).
    """
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"key file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        text = ""
    if len(raw) > _MAX_FILE_BYTES or not _HEX.fullmatch(text):
        raise ValueError(f"key file {path}: expected {2 * KEY_BYTES} hex characters ({KEY_BYTES} bytes) "
                         f"and a newline")
    return bytes.fromhex(text)


def generate_key() -> bytes:
    """A fresh random key (the operating system's generator)."""
    return secrets.token_bytes(KEY_BYTES)


def write_key(path: str, key: bytes | None = None) -> bytes:
    """Write ``key`` (a fresh one when None) to ``path``, readable by its owner only; returns the key.

    Refuses to replace an existing file: a key in use is never overwritten by accident.
    """
    key = generate_key() if key is None else key
    if len(key) != KEY_BYTES:
        raise ValueError(f"a key is {KEY_BYTES} bytes, got {len(key)}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ValueError(f"key file {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.hex() + "\n")
    return key


class KeyRing:
    """The keys of a key folder: the job key and the device keys, loaded and checked at start-up.

    Parameters
    ----------
    folder : str
        A folder of ``<ID>.key`` files and, optionally, ``job.key``; other
        files are ignored.
    """

    def __init__(self, folder: str) -> None:
        if not os.path.isdir(folder):
            raise ValueError(f"key folder {folder}: not a directory")
        self.folder = folder
        job = os.path.join(folder, JOB_KEY_NAME)
        self.job: bytes | None = load_key(job) if os.path.exists(job) else None
        self.devices: dict[int, bytes] = {}
        for name in sorted(os.listdir(folder)):
            match = _DEVICE_FILE.fullmatch(name)
            if match and int(match.group(1)) <= 0xFFFFFFFF:
                self.devices[int(match.group(1))] = load_key(os.path.join(folder, name))

    def device(self, device: int) -> bytes | None:
        """Key of ``device``, or None when the folder has none for it."""
        return self.devices.get(device)

    @classmethod
    def make(cls, folder: str, devices: list[int]) -> KeyRing:
        """Provision a folder: a fresh ``job.key`` and one fresh key per device (tests, a first set-up)."""
        os.makedirs(folder, exist_ok=True)
        write_key(os.path.join(folder, JOB_KEY_NAME))
        for device in devices:
            write_key(os.path.join(folder, device_key_name(device)))
        return cls(folder)
