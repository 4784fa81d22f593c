"""Benchmarks of RNAN: the command line is :mod:`.cli` (``scripts/benchmark.py``), which documents them."""
