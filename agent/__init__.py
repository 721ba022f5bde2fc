"""Sparrow edge agent, serial gateway and MicroPython twin."""
