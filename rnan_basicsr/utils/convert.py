"""Moved to :mod:`rnan_basicsr.weights`; these names stay until the inference script imports it."""
from rnan_basicsr.weights import convert_official_state_dict, infer_official_config  # noqa: F401
