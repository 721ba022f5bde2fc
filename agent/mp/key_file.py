"""A MicroPython node's keys: the key files on its filesystem (docs/security-frames.md).

The same format as ``sparrow.common.keys``: 64 hex characters and a newline.
``key_file`` (the node's own ``<ID>.key``) tags what it sends, ``job_key_file``
(``job.key``) checks what the host sends; both are optional settings of the
node's config JSON.
"""
from binascii import unhexlify

_HEX = b"0123456789abcdefABCDEF"


def load(path):
    """The 32-byte key in file ``path``; None for no path. ValueError names a bad file."""
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            text = handle.read(130).strip()
    except OSError:
        raise ValueError("key file %s: cannot be read" % path)
    if len(text) != 64 or any(c not in _HEX for c in text):
        raise ValueError("key file %s: expected 64 hex characters (32 bytes) and a newline" % path)
    return unhexlify(text)
