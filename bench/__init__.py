"""Benchmarks for battery-gateway: run ``python -m bench`` (never part of the pass/fail tests).

Each figure is reported as a median with its spread (interquartile range, min and max) over repeated
runs, next to a description of the machine. See ``docs/benchmarks.md``.
"""
