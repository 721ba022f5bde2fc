"""The local data shard of a MicroPython node, as one file on its flash.

Layout (little-endian)::

    magic "SPSH" | version u16 = 1 | channels u16 | length u16 | classes u16
    | samples u32 | samples x channels x length float32 | samples x u8 labels

The node reads one sample at a time with ``seek`` + ``readinto`` (a watch
subject's shard is about 0.6 MB, more than an ESP32's RAM), so only the
labels stay in memory. :func:`write` (run on the machine that prepares the
board, CPython) and :class:`Shard` (run on the board) share this module.
"""
import struct

MAGIC = b"SPSH"
VERSION = 1
_HEAD = "<4sHHHHI"
HEADER_BYTES = struct.calcsize(_HEAD)


def write(path: str, features: bytes, labels: "Sequence[int]", channels: int, length: int,
          classes: int) -> None:
    """Write a shard file.

    Parameters
    ----------
    path : str
        Where to write.
    features : bytes
        ``samples * channels * length`` little-endian float32 values, sample-major.
    labels : sequence of int
        One class per sample, each below ``classes`` (< 256).
    channels, length, classes : int
        Input shape and number of classes.
    """
    count = len(labels)
    if len(features) != 4 * count * channels * length:
        raise ValueError("features hold %d bytes, expected %d" % (len(features), 4 * count * channels * length))
    if not 0 < classes <= 256 or any(not 0 <= int(c) < classes for c in labels):
        raise ValueError("labels must lie in [0, classes) with classes <= 256")
    with open(path, "wb") as out:
        out.write(struct.pack(_HEAD, MAGIC, VERSION, channels, length, classes, count))
        out.write(features)
        out.write(bytes(int(c) for c in labels))


class Shard:
    """Read access to a shard file.

    Parameters
    ----------
    path : str
        The file written by :func:`write`.
    """

    def __init__(self, path: str) -> None:
        from array import array
        self._file = open(path, "rb")
        head = self._file.read(HEADER_BYTES)
        if len(head) != HEADER_BYTES:
            raise ValueError("shard file truncated")
        magic, version, self.channels, self.length, self.classes, self.count = struct.unpack(_HEAD, head)
        if magic != MAGIC or version != VERSION:
            raise ValueError("not a version-1 Sparrow shard file")
        self.sample_floats = self.channels * self.length
        self._file.seek(HEADER_BYTES + 4 * self.sample_floats * self.count)
        self.labels = self._file.read(self.count)
        if len(self.labels) != self.count:
            raise ValueError("shard file truncated")
        self._array = array

    def sample(self, i: int, out: "array | None" = None) -> "array":
        """Sample ``i`` as array('f') (into ``out`` when given)."""
        if not 0 <= i < self.count:
            raise IndexError("sample index out of range")
        if out is None:
            out = self._array("f", bytes(4 * self.sample_floats))
        self._file.seek(HEADER_BYTES + 4 * self.sample_floats * i)
        self._file.readinto(out)
        return out

    def close(self) -> None:
        """Close the file."""
        self._file.close()
