"""Fake devices on pseudo-terminals, shared by the tests and the benchmarks (``bench``)."""
