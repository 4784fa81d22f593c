"""Benchmarks of RNAN (``scripts/benchmark.py``, docs/benchmark.md): :mod:`.cli` (the command line, running each
:mod:`.spec` Measurement in a fresh process), :mod:`.measurements` (that process), :mod:`.fixtures` (what it runs on),
:mod:`.report` (the tables)."""
