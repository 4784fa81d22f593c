"""Convert an authors' RNAN checkpoint (github.com/yulunzhang/RNAN, e.g. ``RNAN_Gray_F64G10P48L2N50.pt``) to BasicSR's
format.

    python scripts/convert_official_rnan.py --input RNAN_Gray_F64G10P48L2N50.pt \
        --output experiments/pretrained_models/RNAN_DN_Gray_sigma50.pth

The output's extension chooses its format: ``.safetensors`` with the ``network_g`` settings in its metadata, else
``{'params': state_dict}``. The configuration inferred from the weights is printed: use it in ``network_g``.
"""
import argparse
from os import path as osp

from rnan_basicsr.utils.atomic import atomic_torch_save
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.script_util import run_main
from rnan_basicsr.weights import convert_official_state_dict, full_settings, load_checkpoint, save_safetensors

PROG = 'convert_official_rnan.py'


def convert(input_path, output_path, force=False):
    """Convert ``input_path`` to ``output_path`` (format by its extension); returns the inferred RNAN configuration."""
    if osp.exists(output_path) and not force:
        raise InputError(f'--output {output_path!r} exists; pass --force to overwrite it')
    checkpoint = load_checkpoint(input_path, '--input')
    params, config = convert_official_state_dict(checkpoint, '--input', input_path)
    if output_path.endswith('.safetensors'):
        # the authors' code is RNAN's defaults (query softmax, [0, 255]): said in the file, so no reader assumes it
        save_safetensors(params, output_path, dict(config, type='RNAN', **full_settings(config)))
    else:
        atomic_torch_save({'params': params}, output_path)
    return config


def run(args):
    config = convert(args.input, args.output, args.force)
    print(f'Converted {args.input} -> {args.output}')
    print('network_g:')
    print('  type: RNAN')
    config = dict(config, **full_settings(config))
    for key in ('num_in_ch', 'num_out_ch', 'num_feat', 'num_group', 'upscale', 'img_range', 'rgb_mean', 'nl_softmax'):
        if key in config:
            value = list(config[key]) if isinstance(config[key], tuple) else config[key]
            print(f'  {key}: {value}')


def main(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', required=True, help="the authors' checkpoint (.pt)")
    parser.add_argument('--output', required=True,
                        help='where to write the BasicSR checkpoint: .pth, or .safetensors with the network_g settings')
    parser.add_argument('--force', action='store_true', help='overwrite --output if it exists')
    return run_main(PROG, run, parser.parse_args(argv))
