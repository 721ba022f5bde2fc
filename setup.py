"""Build hook: compiles the sgc C core into the cffi extension ``sgc._sgc``.

All metadata lives in pyproject.toml; this file only exists because
setuptools takes ``cffi_modules`` from setup() alone.
"""
from setuptools import setup

setup(cffi_modules=["shared_c/python/sgc/_build.py:ffibuilder"])
