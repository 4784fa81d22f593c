"""Moved to :mod:`rnan_basicsr.weights`; these names stay until compat, command and the inference script import it."""
from rnan_basicsr.weights import (describe_config, describe_keys, infer_rnan_config, is_state_dict,  # noqa: F401
                                  load_checkpoint, select_params)
