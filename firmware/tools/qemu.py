"""Run Sparrow firmware on emulated boards.

Used by the tests (``tests/test_firmware_*.py``) and by anyone who wants a
board on a TCP port for the serial gateway::

    python firmware/tools/qemu.py --board mps2-an386 --app grad          # console on stdout
    python firmware/tools/qemu.py --board riscv32-virt --app node --port 5555
    # then: serial.serial_for_url("socket://127.0.0.1:5555")

The QEMU command line of each board lives once, in its
``firmware/boards/<board>/board.mk``; this module asks make for it.
"""

from __future__ import annotations

import argparse
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parents[1]
BOARDS = ("mps2-an386", "netduinoplus2", "riscv32-virt")
BUILD_TIMEOUT_S = 600


def build(boards: tuple[str, ...] = BOARDS, timeout: float = BUILD_TIMEOUT_S) -> None:
    """Build the firmware of the given boards (``make -C firmware``).

    Raises
    ------
    RuntimeError
        With make's output when the build fails.
    """
    for board in boards:
        proc = subprocess.run(["make", "-s", "--no-print-directory", "-C", str(FIRMWARE), f"BOARD={board}"],
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"firmware build for {board} failed:\n{proc.stdout}\n{proc.stderr}")


def elf_path(board: str, app: str) -> Path:
    """Path of a built firmware image."""
    return FIRMWARE / "build" / board / f"{app}.elf"


def qemu_command(board: str, app: str, serial: str = "stdio", qmp: str | None = None,
                 image: Path | None = None) -> list[str]:
    """QEMU command line running ``app`` on ``board`` with its UART on ``serial``.

    Parameters
    ----------
    board : str
        One of :data:`BOARDS` (a folder under firmware/boards).
    app : str
        Firmware name (``firmware/app/<app>.c``).
    serial : str
        QEMU ``-serial`` backend: ``stdio``, or ``tcp:127.0.0.1:PORT,server=on,wait=off``.
    qmp : str, optional
        Path of a unix socket for QEMU's QMP control (to reset the board).
    image : Path, optional
        Run this image of ``app`` instead of the built one (a copy with the
        board's key, provision_key.py).

    Raises
    ------
    ValueError
        For an unknown board, or an image that has not been built.
    """
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; choose one of {BOARDS}")
    elf = image or elf_path(board, app)
    if not elf.is_file():
        raise ValueError(f"{elf} not built; run make -C firmware BOARD={board}")
    out = subprocess.run(["make", "-s", "--no-print-directory", "-C", str(FIRMWARE), f"BOARD={board}", "print-qemu"],
                         capture_output=True, text=True, check=True).stdout
    extra = ["-qmp", f"unix:{qmp},server=on,wait=off"] if qmp else []
    return shlex.split(out) + extra + ["-serial", serial, "-kernel", str(elf)]


def reset_board(qmp: str, timeout: float = 5.0) -> None:
    """Press the board's reset button: QMP ``system_reset`` (the UART socket stays open)."""
    import json
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(qmp)
        reader = sock.makefile("r")
        reader.readline()  # greeting
        for command in ("qmp_capabilities", "system_reset"):
            sock.sendall(json.dumps({"execute": command}).encode() + b"\n")
            while "return" not in json.loads(reader.readline()):
                pass


def tcp_serial(port: int) -> str:
    """QEMU serial backend that listens on 127.0.0.1:port and never blocks the board."""
    return f"tcp:127.0.0.1:{port},server=on,wait=off"


@dataclass(frozen=True)
class Run:
    """Outcome of one firmware run: the board's exit status and console lines."""

    returncode: int
    lines: list[str]

    def field(self, tag: str) -> list[str]:
        """Fields after ``tag`` on the first line that starts with it.

        Raises
        ------
        KeyError
            If no line carries the tag.
        """
        for line in self.lines:
            parts = line.split()
            if parts and parts[0] == tag:
                return parts[1:]
        raise KeyError(f"no {tag!r} line in the board's output")


def run(board: str, app: str, timeout: float = 120) -> Run:
    """Run a firmware image to completion with its console captured.

    Raises
    ------
    subprocess.TimeoutExpired
        If the board does not exit within ``timeout`` seconds.
    """
    proc = subprocess.run(qemu_command(board, app), capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    text = proc.stdout.decode("ascii", errors="replace")
    return Run(proc.returncode, [line.strip() for line in text.splitlines() if line.strip()])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BoardProcess:
    """A firmware image running under QEMU with its UART on a TCP port.

    What an end-to-end test or a demo needs to put an emulated board behind
    the serial gateway::

        with BoardProcess("mps2-an386") as board:
            port = serial.serial_for_url(board.url, timeout=0.02)
            ...
            board.reset()          # the reset button; the socket stays open

    Parameters
    ----------
    board : str
        One of :data:`BOARDS`.
    app : str
        Firmware name; ``node`` is the training node.
    port : int, optional
        TCP port for the UART (a free one by default).
    image : Path, optional
        An image to run instead of the built ``app`` (a provisioned copy).
    """

    def __init__(self, board: str, app: str = "node", port: int | None = None, image: Path | None = None) -> None:
        self.board = board
        self.port = port or free_port()
        self._tmp = tempfile.TemporaryDirectory()
        self.qmp = str(Path(self._tmp.name) / "qmp.sock")
        self.proc = subprocess.Popen(
            qemu_command(board, app, tcp_serial(self.port), qmp=self.qmp, image=image),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    @property
    def url(self) -> str:
        """pyserial URL of the board's UART."""
        return f"socket://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until QEMU accepts connections on the UART port.

        Raises
        ------
        RuntimeError
            If QEMU exits or the port does not open in time.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"QEMU for {self.board} exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.board}: UART port {self.port} did not open in {timeout} s")

    def reset(self) -> None:
        """Press the reset button (QMP system_reset)."""
        reset_board(self.qmp)

    def close(self) -> None:
        """Stop QEMU."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self._tmp.cleanup()

    def __enter__(self) -> "BoardProcess":
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def built_boards(description: str, argv: list[str] | None = None) -> tuple[str, ...]:
    """Parse a measuring tool's ``--board`` options (repeatable; every board when
    none is given) and build the firmware of those boards.

    Parameters
    ----------
    description : str
        The tool's ``--help`` line.
    argv : list of str, optional
        Arguments (``sys.argv[1:]`` when None).

    Returns
    -------
    tuple of str
        The boards, in the order given.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--board", choices=BOARDS, action="append")
    boards = tuple(parser.parse_args(argv).board or BOARDS)
    build(boards)
    return boards


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run Sparrow firmware under QEMU")
    parser.add_argument("--board", choices=BOARDS, required=True)
    parser.add_argument("--app", required=True, help="firmware name, e.g. grad, test_nn, node")
    parser.add_argument("--port", type=int, default=0, help="serve the UART on this TCP port")
    args = parser.parse_args(argv)
    serial = tcp_serial(args.port) if args.port else "stdio"
    return subprocess.call(qemu_command(args.board, args.app, serial))


if __name__ == "__main__":
    sys.exit(main())
