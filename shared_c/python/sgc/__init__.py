"""sgc: Python binding of Sparrow's C gradient compression core."""
from sgc._errors import Error, FrameError, ArgumentError, StateError

__all__ = ["Error", "FrameError", "ArgumentError", "StateError"]
