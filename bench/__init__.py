"""Sparrow's benchmarks. Each prints JSON lines; run them from the repository
root as modules, e.g. ``.venv/bin/python -m bench.select --quick``.

They run as modules (``-m``), not as scripts, because ``bench/select.py``
shares its name with the standard library's ``select``: run as a script, its
folder would head ``sys.path`` and shadow the real module.
"""
