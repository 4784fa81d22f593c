"""Network weights, by job: reading any checkpoint form (:mod:`~rnan_basicsr.weights.checkpoint`), the authors'
layout onto ours (:mod:`~rnan_basicsr.weights.authors`), fitting a network (:mod:`~rnan_basicsr.weights.fit`)."""
from rnan_basicsr.weights.authors import convert_official_state_dict, to_our_layout  # noqa: F401
from rnan_basicsr.weights.checkpoint import (NETWORK_KEY, describe_config, find_params, infer_rnan_config,  # noqa: F401
                                             load_checkpoint, looks_like_weights, save_safetensors, select_params)
from rnan_basicsr.weights.fit import (SETTING_KEYS, check_fits, check_saved_settings, describe_mismatch,  # noqa: F401
                                      describe_softmax, expected_state_dict, full_settings, load_rnan, network_settings)
