"""A tiny test runner for MicroPython, which has no pytest.

Every check prints one line ("ok  name" or "FAIL name: detail"); finish()
prints a summary and exits with status 1 when any check failed, so the
pytest side (tests/test_frame_twin.py) only reads the exit status and lines.
"""
import sys

_failed = []
_passed = [0]


def check(name, condition, detail=""):
    """Record one check; ``detail`` is printed when it fails."""
    if condition:
        _passed[0] += 1
        print("ok   " + name)
    else:
        _failed.append(name)
        print("FAIL " + name + (": " + str(detail) if detail else ""))


def raises_status(name, func, status):
    """Check that func() raises an exception whose ``status`` is ``status``."""
    try:
        func()
    except ValueError as exc:
        got = getattr(exc, "status", None)
        check(name, got == status, "status %r (%s), expected %r" % (got, exc, status))
        return
    check(name, False, "no exception, expected status %r" % status)


def finish():
    """Print the summary line and exit non-zero on any failure."""
    print("summary: %d passed, %d failed" % (_passed[0], len(_failed)))
    sys.exit(1 if _failed else 0)


def use_agent(agent_dir):
    """Make the twin importable as top-level modules (as on a board)."""
    if agent_dir not in sys.path:
        sys.path.insert(0, agent_dir)
