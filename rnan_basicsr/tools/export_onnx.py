"""Export a trained or converted RNAN to ONNX, with dynamic height and width (odd sizes too).

    python scripts/export_onnx.py --model_path experiments/pretrained_models/RNAN_DN_Gray_sigma50.pth \
        --output RNAN_DN_Gray_sigma50.onnx [--opset 18] [--fp16]

Every checkpoint form of :func:`rnan_basicsr.weights.fit.load_rnan` is accepted. The non-local attention is exported
in its direct form (an N x N matrix of the N = H*W positions per block), so memory grows with (H*W)^2. The graph's
input and output, its metadata, the onnxruntime check before writing and what the attention costs:
docs/outside_basicsr.md.
"""
import argparse
import json
import torch
from os import path as osp

from rnan_basicsr.utils.atomic import atomic_write, check_writable
from rnan_basicsr.utils.errors import InputError, RunError
from rnan_basicsr.utils.script_util import run_main
from rnan_basicsr.version import __version__
from rnan_basicsr.weights import full_settings, load_rnan

PROG = 'export_onnx.py'
#: the oldest opset torch.onnx's exporter (torch.export-based) writes; the newest is :func:`max_opset`
MIN_OPSET = 18
DEFAULT_OPSET = 18
#: largest |onnxruntime - PyTorch| accepted by the check before writing, per dtype
CHECK_TOLERANCE = {torch.float32: 1e-4, torch.float16: 5e-2}
#: the size of the check: odd in both directions, so the dynamic, odd-size path is what is checked
CHECK_SIZE = (19, 13)


def max_opset():
    """The newest opset the installed exporter writes: the installed onnx's newest (its converter stops there)."""
    import onnx

    return onnx.defs.onnx_opset_version()


def graph_opset(model):
    """The opset of an ONNX model's graph: the version of the default domain in its ``opset_import``."""
    return next((entry.version for entry in model.opset_import if entry.domain in ('', 'ai.onnx')), None)


def metadata(config, dtype, opset):
    """The ONNX ``metadata_props`` (str: str) of an exported RNAN: everything needed to feed it and read its output."""
    upscale, settings = config['upscale'], full_settings(config)
    props = {
        'architecture': 'RNAN',
        'paper': 'Residual Non-local Attention Networks for Image Restoration, ICLR 2019',
        'producer': f'rnan_basicsr {__version__} scripts/export_onnx.py',
        'purpose': 'SR' if upscale > 1 else 'Restoration',
        'scale': str(upscale),
        **{key: str(config[key]) for key in ('num_in_ch', 'num_out_ch', 'num_feat', 'num_group')},
        'layout': 'NCHW, batch 1',
        'channel_order': 'RGB' if config['num_in_ch'] == 3 else 'grey or Y (BT.601)',
        'dtype': 'float16' if dtype == torch.float16 else 'float32',
        'input_range': '[0, 1]',
        'output_range': '[0, 1], not clamped',
        'img_range': str(float(settings['img_range'])),
        'nl_softmax': settings['nl_softmax'],
        'size_requirements': 'any height and width >= 1',
        'attention': 'direct: an (H*W) x (H*W) matrix per non-local block (2 per network)',
        'opset': str(opset),
    }
    if upscale > 1:
        props['rgb_mean'] = json.dumps([float(v) for v in settings['rgb_mean']])
    return props


def export(model_path, output_path, opset=DEFAULT_OPSET, fp16=False, force=False, check=True):
    """Export the RNAN of ``model_path`` to ``output_path``; returns ``(config, max_abs_difference or None)``.

    Raises:
        InputError: a missing or unreadable checkpoint, not RNAN weights, an existing ``output_path`` (without
            ``force``), a folder of ``output_path`` that does not exist or cannot be written to, or an opset the
            exporter cannot write.
        RunError: onnxruntime's output differs from PyTorch's by more than :data:`CHECK_TOLERANCE`, the exporter
            wrote another opset than ``opset``, or the file cannot be written (the system's reason).
    """
    import onnx

    newest = max_opset()
    if not MIN_OPSET <= opset <= newest:
        raise InputError(f'--opset {opset}: the installed exporter (torch {torch.__version__}, onnx '
                         f'{onnx.__version__}) writes opsets {MIN_OPSET} to {newest}; choose one of them.')
    if osp.isdir(output_path):
        raise InputError(f'--output {output_path!r} is a folder; give a file name such as model.onnx.')
    if osp.exists(output_path) and not force:
        raise InputError(f'--output {output_path!r} exists; pass --force to overwrite it.')
    folder = osp.dirname(osp.abspath(output_path))
    if not osp.isdir(folder):
        raise InputError(f'--output {output_path!r}: the folder {folder!r} does not exist; create it first, or '
                         'choose another path.')
    check_writable(folder, f'--output {output_path!r}')
    # 'direct' is the only attention form that traces into a static graph (see the module docstring)
    net, config = load_rnan(model_path, '--model_path', nl_impl='direct')
    dtype = torch.float16 if fp16 else torch.float32
    net = net.to(dtype)
    example = torch.rand(1, config['num_in_ch'], 16, 16, generator=torch.Generator().manual_seed(0)).to(dtype)
    # batch 1 (one image, as spandrel and chaiNNer run it); a dynamic batch fails torch.export's shape guards
    dims = {2: torch.export.Dim('height', min=1), 3: torch.export.Dim('width', min=1)}
    program = torch.onnx.export(net, (example, ), input_names=['input'], output_names=['output'],
                                opset_version=opset, dynamo=True, dynamic_shapes=(dims, ), verbose=False)
    model = program.model_proto
    written = graph_opset(model)
    if written != opset:  # the exporter keeps its own opset when the conversion fails (and only logs it)
        raise RunError(f'the exporter wrote opset {written}, not --opset {opset} (its conversion failed, see above); '
                       f'nothing was written. Use --opset {written}.')
    onnx.helper.set_model_props(model, metadata(config, dtype, written))
    data = model.SerializeToString()
    difference = check_with_onnxruntime(data, net, config, dtype) if check else None
    try:
        with atomic_write(output_path) as f:
            f.write(data)
    except OSError as error:
        raise RunError(f'cannot write --output {output_path!r}: {error.strerror or error}; nothing was written.',
                       path=output_path) from None
    return config, difference


def check_with_onnxruntime(data, net, config, dtype):
    """max |onnxruntime - PyTorch| on a random (1, C, 19, 13) input; None when onnxruntime is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(data, providers=['CPUExecutionProvider'])
    x = torch.rand(1, config['num_in_ch'], *CHECK_SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = net(x.to(dtype)).float()
    out = torch.from_numpy(session.run(['output'], {'input': x.to(dtype).numpy()})[0]).float()
    if out.shape != expected.shape:
        raise RunError(f'onnxruntime returned {tuple(out.shape)} where PyTorch gives {tuple(expected.shape)}')
    difference = (out - expected).abs().max().item()
    if not difference <= CHECK_TOLERANCE[dtype]:
        raise RunError(f'onnxruntime differs from PyTorch by {difference:.3g} (more than {CHECK_TOLERANCE[dtype]}) '
                       f'at {CHECK_SIZE[0]}x{CHECK_SIZE[1]}; nothing was written.')
    return difference


def run(args):
    import onnx

    config, difference = export(args.model_path, args.output, args.opset, args.fp16, args.force)
    opset = graph_opset(onnx.load(args.output))  # as written, read back
    print(f'Exported {args.model_path} -> {args.output} ({osp.getsize(args.output) / 2**20:.1f} MiB, opset '
          f'{opset}, {"float16" if args.fp16 else "float32"})')
    print(f'RNAN: scale {config["upscale"]}, {config["num_in_ch"]} -> {config["num_out_ch"]} channels, '
          f'{config["num_feat"]} features, {config["num_group"]} groups, nl_softmax '
          f'{full_settings(config)["nl_softmax"]}; input and output in [0, 1], any height and width')
    if difference is None:
        print('onnxruntime is not installed: the export was not checked (pip install "rnan_basicsr[onnx]").')
    else:
        print(f'onnxruntime check at {CHECK_SIZE[0]}x{CHECK_SIZE[1]}: max |onnxruntime - PyTorch| = {difference:.3g}')


def main(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model_path', required=True,
                        help='RNAN weights: BasicSR .pth, .safetensors, or an authors\' released checkpoint')
    parser.add_argument('--output', required=True, help='the .onnx file to write')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET,
                        help=f'ONNX opset (default: {DEFAULT_OPSET}; {MIN_OPSET} to the installed onnx\'s newest)')
    parser.add_argument('--fp16', action='store_true',
                        help='float16 weights, input and output (the non-local attention stays float32 inside)')
    parser.add_argument('--force', action='store_true', help='overwrite --output if it exists')
    return run_main(PROG, run, parser.parse_args(argv))
