"""``sparrow.host.lab``: harness for demos, benches and tests.

Starts and stops processes and whole fleets; never used by a deployed host
or node.
"""
