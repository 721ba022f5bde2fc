"""cffi builder for ``sgc._sgc`` (out-of-line API mode).

The C declarations given to cffi come from the ``_cdef_*.h`` files beside this
one. They name constants with ``...`` so that cffi reads every value from the
real header at build time: no C constant is copied by hand.
"""
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
CORE = HERE.parents[1]  # shared_c/

ffibuilder = FFI()
ffibuilder.cdef("\n".join(p.read_text() for p in sorted(HERE.glob("_cdef_*.h"))))
ffibuilder.set_source(
    "sgc._sgc",
    '#include "sgc.h"\n',
    sources=[str(p.relative_to(Path.cwd())) if p.is_relative_to(Path.cwd()) else str(p)
             for p in sorted((CORE / "src").glob("*.c"))],
    include_dirs=[str(CORE / "include"), str(CORE / "src")],
    extra_compile_args=["-std=c99", "-O3", "-Wall", "-Wno-unused-function"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
