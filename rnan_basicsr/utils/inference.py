"""Moved to :mod:`rnan_basicsr.test_time`; these names stay until the inference script and the benchmark import it."""
from rnan_basicsr.test_time import self_ensemble_forward, tile_forward  # noqa: F401
