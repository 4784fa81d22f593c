"""Convert an authors' RNAN checkpoint (github.com/yulunzhang/RNAN, e.g. ``RNAN_Gray_F64G10P48L2N50.pt``) to BasicSR's
format.

    python scripts/convert_official_rnan.py --input RNAN_Gray_F64G10P48L2N50.pt \
        --output experiments/pretrained_models/RNAN_DN_Gray_sigma50.pth

The output is ``{'params': state_dict}`` for ``path.pretrain_network_g``. The network configuration is inferred from
the weights and printed; use the same values in ``network_g`` of your option file.
"""
import argparse
import sys
import torch
from os import path as osp

from rnan_basicsr.utils.atomic import atomic_torch_save
from rnan_basicsr.utils.convert import convert_official_state_dict, infer_official_config
from rnan_basicsr.utils.errors import InputError


def convert(input_path, output_path, force=False):
    """Convert ``input_path`` to ``output_path``; returns the inferred RNAN configuration."""
    if not osp.isfile(input_path):
        raise InputError(f'--input {input_path!r} does not exist or is not a file')
    if osp.exists(output_path) and not force:
        raise InputError(f'--output {output_path!r} exists; pass --force to overwrite it')
    try:
        checkpoint = torch.load(input_path, map_location='cpu', weights_only=True)
    except Exception as error:  # noqa: B902 - torch raises several types for foreign or unsafe files
        raise InputError(f'cannot load {input_path!r} with weights_only=True ({type(error).__name__}: '
                         f'{str(error).splitlines()[0] if str(error) else ""}). Only plain tensor checkpoints are '
                         'accepted; a file that needs arbitrary pickled objects is refused.') from None
    config = infer_official_config(checkpoint)
    params = convert_official_state_dict(checkpoint)
    atomic_torch_save({'params': params}, output_path)
    return config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', required=True, help="the authors' checkpoint (.pt)")
    parser.add_argument('--output', required=True, help='where to write the BasicSR checkpoint (.pth)')
    parser.add_argument('--force', action='store_true', help='overwrite --output if it exists')
    args = parser.parse_args(argv)
    try:
        config = convert(args.input, args.output, args.force)
    except InputError as error:
        print(f'convert_official_rnan.py: error: {error}', file=sys.stderr)
        return 2
    print(f'Converted {args.input} -> {args.output}')
    print('network_g:')
    print('  type: RNAN')
    for key in ('num_in_ch', 'num_out_ch', 'num_feat', 'num_group', 'upscale', 'rgb_mean'):
        if key in config:
            value = list(config[key]) if isinstance(config[key], tuple) else config[key]
            print(f'  {key}: {value}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
