"""Write the option files of the experiments of the RNAN paper from one source.

    python scripts/generate_options.py            # (re)write the 32 files in options/
    python scripts/generate_options.py --check    # exit 1, listing every file that differs from what would be written

For each experiment EXP of :mod:`rnan_basicsr.tasks` (its tasks, levels, test sets, schedules and the authors'
checkpoint names), ``options/train_RNAN_<EXP>.yml`` (training as in the paper) and ``options/test_RNAN_<EXP>.yml``
(the paper's test sets); other files in the folder are left alone. Where the numbers come from (the authors'
option.py and training scripts): docs/experiments.md. Nothing here is read at run time: the files are plain YAML.
"""
import argparse
import sys
from collections import OrderedDict, namedtuple
from os import path as osp

from rnan_basicsr.options.json_schema import YAML_LANGUAGE_SERVER_LINE
from rnan_basicsr.tasks import SCALE, SIGMA, experiment_name, experiments, option_file_name
from rnan_basicsr.utils.image_io import write_text
from rnan_basicsr.utils.script_util import differing_texts

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OPTIONS_DIR = osp.join(ROOT, 'options')
LINE_LIMIT = 120

Experiment = namedtuple('Experiment', ['name', 'task', 'level', 'scale'])  # task: a rnan_basicsr.tasks.Task

ITERATIONS_PER_EPOCH = 1000  # the authors' --test_every: batches per epoch
LR_HALVING_EPOCHS = 200  # the authors' --lr_decay
PATCH = 48  # LQ patch side (the authors' --patch_size 48; SR: 48 x scale HR pixels)
BATCH = 16
VAL_FREQ = 5000
CHECKPOINT_FREQ = 5000


EXPERIMENTS = [Experiment(experiment_name(task, level), task, level, level if task.level is SCALE else 1)
               for task, level in experiments()]


# A small YAML writer that keeps comments beside the keys they explain (yaml.safe_dump writes none): a document is a
# list of entries, (key, value) / (key, value, comment), Comment(text) or BLANK; a nested mapping is a Map of entries.
# The tests read every file back with yaml.safe_load and compare it with the values meant (to_data).
class Map(list):
    """A nested YAML mapping: a list of entries."""


class Comment(str):
    """A comment line."""


class Sci(str):
    """A float written in exponent form (``!!float 1e-4``: PyYAML reads a bare ``1e-4`` as a string)."""


BLANK = Comment('')


def scalar(value):
    if value is None:
        return '~'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, Sci):
        return f'!!float {value}'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(scalar(v) for v in value) + ']'
    if isinstance(value, str):
        plain = value and all(c.isalnum() or c in '_-./' for c in value) and value.lower() not in (
            'true', 'false', 'yes', 'no', 'on', 'off', 'null', '~') and not value[0].isdigit()
        return value if plain else "'" + value.replace("'", "''") + "'"
    raise TypeError(f'cannot write {value!r} as YAML')


def _flow_lines(prefix, values):
    """``prefix[a, b, ...]`` wrapped under the opening bracket where it would pass LINE_LIMIT (valid YAML)."""
    items = [scalar(v) for v in values]
    current = f'{prefix}['
    indent, lines = ' ' * len(current), []
    for i, item in enumerate(items):
        piece = item + (']' if i == len(items) - 1 else ',')
        candidate = current + ('' if current.endswith('[') else ' ') + piece
        if len(candidate) > LINE_LIMIT and not current.endswith('['):
            lines.append(current)
            candidate = indent + piece
        current = candidate
    return lines + [current]


def render(entries, indent=0):
    """YAML lines of ``entries``."""
    pad = '  ' * indent
    lines = []
    for entry in entries:
        if isinstance(entry, Comment):
            lines.append(f'{pad}# {entry}' if entry else '')
            continue
        key, value, *rest = entry
        comment = f'  # {rest[0]}' if rest and rest[0] else ''
        if isinstance(value, Map):
            lines.append(f'{pad}{key}:{comment}')
            lines += render(value, indent + 1)
        elif isinstance(value, (list, tuple)) and len(f'{pad}{key}: {scalar(value)}{comment}') > LINE_LIMIT:
            if comment:
                lines.append(f'{pad}{comment.strip()}')
            lines += _flow_lines(f'{pad}{key}: ', value)
        else:
            lines.append(f'{pad}{key}: {scalar(value)}{comment}')
    for line in lines:
        if len(line) > LINE_LIMIT:
            raise ValueError(f'line longer than {LINE_LIMIT} characters: {line!r}')
    return lines


def to_data(entries):
    """The plain structure ``entries`` describe (what a YAML parser must read back from :func:`render`)."""
    data = OrderedDict()
    for entry in entries:
        if isinstance(entry, Comment):
            continue
        key, value = entry[:2]
        if isinstance(value, Map):
            data[key] = to_data(value)
        elif isinstance(value, Sci):
            data[key] = float(value)
        elif isinstance(value, tuple):
            data[key] = list(value)
        else:
            data[key] = value
    return data


# the pieces of an option file
LEVEL_WORDS = {'sigma': 'sigma {}', 'quality': 'JPEG quality {}', 'scale': 'x{}'}


def level_words(exp):
    return LEVEL_WORDS[exp.task.level.name].format(exp.level) if exp.task.level else 'GRBG pattern'


#: the test inputs of each task: the generate_lq.py flags that make them, the LQ folder under datasets/ and its
#: comment, the GT folder and its comment ({set} and {level} filled in; a GT folder other than HQ is --gt_output's)
TEST_INPUTS = {
    'dn_rgb': ('--task denoise --sigma {level} --seed 0', '{set}/N{level}', 'noisy inputs of generate_lq.py --seed 0',
               '{set}/HQ', 'clean colour images'),
    'dn_gray': ('--task denoise --sigma {level} --seed 0 --gray', '{set}_gray/N{level}',
                'noisy inputs of generate_lq.py --seed 0', '{set}_gray/HQ',
                'grey GT of generate_lq.py --gray --gt_output'),
    'car': ('--task jpeg --quality {level}', '{set}/Q{level}', 'its JPEG-compressed copies', '{set}/Y',
            'Y channel of generate_lq.py --task jpeg --gt_output'),
    'demosaic': ('--task demosaic', '{set}/mosaic', 'GRBG mosaics of generate_lq.py (or made on the fly)',
                 '{set}/HQ', 'clean colour images'),
    'sr': ('--task sr --scale {level}', '{set}/LRbicx{level}', 'Matlab-style bicubic LR of generate_lq.py',
           '{set}/GTmod{level}', 'HR cropped to a multiple of {level} (--gt_output)'),
}
#: a line under the header's generate_lq.py command
TEST_INPUT_NOTES = {'dn_gray': '(--gt_output with one level only; BSD68_gray is made from datasets/CBSD68/HQ)',
                    'car': '(--gt_output with one quality only)'}


def test_set_inputs(exp, set_name):
    """:data:`TEST_INPUTS` of ``exp``'s task, filled in for ``set_name``."""
    return [text.format(set=set_name, level=exp.level) for text in TEST_INPUTS[exp.task.key]]


def test_set_entries(exp, set_name):
    """Dataset entries for one test set of ``exp``: the fixed inputs of generate_lq.py (the README's layout)."""
    _, lq, lq_note, gt, gt_note = test_set_inputs(exp, set_name)
    entries = [('name', set_name), ('type', exp.task.dataset), ('dataroot_gt', f'datasets/{gt}', gt_note),
               ('dataroot_lq', f'datasets/{lq}', lq_note), ('io_backend', Map([('type', 'disk')]))]
    if exp.task.level is SIGMA:
        entries += [('sigma', exp.level, 'used without dataroot_lq: noise made on the fly, seed 0 (the same images)'),
                    ('gray', exp.task.gray, '1-channel images' if exp.task.gray else None)]
    elif exp.task.key == 'car':
        entries.append(('quality', exp.level, 'used without dataroot_lq: compressed on the fly'))
    return entries


TRAIN_TYPE_NOTES = {
    'car': 'Y channel (BT.601) of the sub-images, JPEG-compressed per patch',
    'demosaic': 'GRBG mosaic (3 channels, zeros) made from every patch',
}


def train_set_entries(exp):
    task, scale, lmdb = exp.task, exp.level, ('io_backend', Map([('type', 'lmdb')]))
    if task.level is SCALE:
        entries = [
            ('dataroot_gt', f'datasets/DIV2K/DIV2K_train_HR_sub_x{scale}.lmdb', 'HR sub-images (docs/data.md)'),
            ('dataroot_lq', f'datasets/DIV2K/DIV2K_train_LR_bicubic_X{scale}_sub.lmdb', 'their bicubic LR, same keys'),
            lmdb, ('gt_size', PATCH * scale, f"HR patches of {PATCH}x{PATCH} LR pixels (the authors' --patch_size)")]
    else:
        entries = [('dataroot_gt', 'datasets/DIV2K/DIV2K_train_HR_sub.lmdb', '800 DIV2K images as 480x480 sub-images'),
                   lmdb]
        if task.level is SIGMA:
            entries += [('sigma', exp.level, 'AWGN std on the 0-255 scale, fresh noise for every patch'),
                        ('gray', task.gray,
                         'colour sub-images to grey (0.299 R + 0.587 G + 0.114 B)' if task.gray else 'RGB'),
                        ('clip', True, 'noisy patch clipped to [0, 255] and rounded, like the test inputs')]
        elif task.key == 'car':
            entries += [('quality', exp.level, 'JPEG quality')]
        entries += [('gt_size', PATCH, f'{PATCH}x{PATCH} patches')]
    return [('name', 'DIV2K'), ('type', task.dataset, TRAIN_TYPE_NOTES.get(task.key))] + entries + [
        ('use_hflip', True),
        ('use_rot', True, 'flips and 90-degree rotations'),
        ('num_worker_per_gpu', 6),
        ('batch_size_per_gpu', BATCH, 'the paper: 16 (per process: with N GPUs and torchrun, 16 / N keeps it)'),
        ('dataset_enlarge_ratio', 1),
        ('prefetch_mode', None),
    ]


def network_entries(exp):
    task = exp.task
    what = {1: 'grey' if task.gray else 'Y channel', 3: 'RGB' if task.key != 'demosaic' else
            'mosaic in, RGB out'}[task.channels]
    return Map([
        ('type', 'RNAN'),
        ('num_in_ch', task.channels, what),
        ('num_out_ch', task.channels),
        ('num_feat', 64),
        ('num_group', 10, '2 non-local groups + 8 local ones (the official size)'),
        ('upscale', exp.scale, 'super-resolution factor' if task.level is SCALE else '1: output = input + residual'),
        ('nl_softmax', 'query', "the released code's softmax (and checkpoints'); key = the paper's formula"),
    ])


def metric_entries(exp):
    """PSNR / SSIM by the paper's protocol for the task (what evaluate.py --task prints above its tables)."""
    task = exp.task
    crop, y_channel = exp.level if task.crop_border else 0, task.y_channel
    if task.crop_border:
        why = f'on Y, {exp.level} border pixels cropped'
    elif task.y_channel:
        why = 'on Y (the images are already Y, 1 channel: nothing is converted)'
    else:
        why = "on the image's own channels, no border cropped"
    return Map([
        Comment(f'the paper\'s protocol: {why}'),
        ('psnr', Map([('type', 'calculate_psnr'), ('crop_border', crop), ('test_y_channel', y_channel)])),
        ('ssim', Map([('type', 'calculate_ssim'), ('crop_border', crop), ('test_y_channel', y_channel)])),
    ])


def data_header(exp):
    """Header lines: how to make the test inputs this experiment reads (the README's commands)."""
    flags, lq, _, gt, _ = test_set_inputs(exp, '<set>')
    gt_output = '' if gt == '<set>/HQ' else f' --gt_output datasets/{gt}'
    lines = [f'  python scripts/data_preparation/generate_lq.py {flags} \\',
             f'      --input datasets/<set>/HQ --output datasets/{lq}{gt_output}']
    if exp.task.key in TEST_INPUT_NOTES:
        lines.append(f'  {TEST_INPUT_NOTES[exp.task.key]}')
    return lines


def datasets_comment(exp):
    """Comment lines above the test datasets: the default inputs and the alternatives."""
    if exp.task.level is SCALE:
        return ["For the authors' LR images instead, point dataroot_lq at their folder of each set and scale",
                "(filename_tmpl maps other names, e.g. '{}x%d' for <name>x%d.png)." % (exp.level, exp.level)]
    lines = ["For the authors' released inputs instead, point dataroot_lq at their folder of each set (and level;",
             'filename_tmpl maps other names). Without dataroot_lq the inputs are made from the GT on the fly:']
    if exp.task.level is SIGMA:
        return lines + ['noise seeded per image, and seed 0 (the default) gives the files of generate_lq.py --seed 0.']
    return lines + ['the same images as the files (the degradation is deterministic).']


def header(exp, kind):
    task = exp.task
    title = f'RNAN (ICLR 2019), {task.title}, {level_words(exp)}'
    command = f'  basicsr {kind} -opt options/{kind}_RNAN_{exp.name}.yml'
    if kind == 'train':
        lines = [f'{title}: training as in the paper.', command + ' --auto_resume']
    else:
        lines = [f'{title}: test on the paper\'s test sets.', command,
                 f'Test inputs ({", ".join(task.test_sets)}), made from the clean images in datasets/<set>/HQ by']
        lines += data_header(exp)
    lines += ['Data layout, checkpoints, training and testing: docs/experiments.md; every key: docs/options.md.',
              'Generated by scripts/generate_options.py: edit and rerun it, or copy this file for your own runs',
              '(for a copy elsewhere, python scripts/generate_schema.py --link <copy> fixes the first line).']
    # the first line: editors (YAML language server) complete and check keys from the schema beside the file
    return [Comment(YAML_LANGUAGE_SERVER_LINE[2:])] + [Comment(line) for line in lines] + [BLANK]


def section(comments, key, value):
    """A top-level section of an option file: a blank line, its comment line(s) (a str or a list), ``key: value``."""
    lines = [comments] if isinstance(comments, str) else comments
    return [BLANK] + [Comment(line) for line in lines] + [(key, value)]


def train_entries(exp):
    task = exp.task
    total_iter = task.epochs * ITERATIONS_PER_EPOCH
    halving = LR_HALVING_EPOCHS * ITERATIONS_PER_EPOCH
    milestones = tuple(range(halving, total_iter, halving))
    if task.level is SCALE:
        loss_note = f"L2 as the paper ({task.train_script} keeps option.py's --loss 1*L1: L1Loss follows it)"
    else:
        loss_note = f'L2 as the paper and {task.train_script} (--loss 1*MSE)'
    val_set = task.val_set
    return header(exp, 'train') + [
        Comment('general settings'),
        ('name', f'RNAN_{exp.name}'),
        ('model_type', 'RNANModel'),
        ('scale', exp.scale),
        ('num_gpu', 'auto', 'all visible GPUs, 0 without CUDA (the paper: one GPU)'),
        ('manual_seed', 1, "the authors' --seed"),
        *section('dataset and data loader settings', 'datasets', Map([
            ('train', Map(train_set_entries(exp))),
            BLANK,
            ('val', Map(test_set_entries(exp, val_set)),
             f'{val_set} only, to keep validation cheap; test_RNAN_{exp.name}.yml has every test set'),
        ])),
        *section('network structures', 'network_g', network_entries(exp)),
        *section('path', 'path', Map([('pretrain_network_g', None), ('strict_load_g', True), ('resume_state', None)])),
        *section('training settings', 'train', Map([
            ('ema_decay', 0, 'the paper keeps no EMA'),
            ('optim_g', Map([
                ('type', 'Adam'),
                ('lr', Sci('1e-4')),
                ('weight_decay', 0),
                ('betas', (0.9, 0.999)),
                ('eps', Sci('1.53787e-13'), "1e-8 / 255^2: the authors' Adam steps, their MSE being on [0, 255]"),
            ])),
            ('scheduler', Map([
                ('type', 'MultiStepLR'),
                ('milestones', milestones,
                 f"lr halved every {halving // 1000}k iterations (the authors' --lr_decay {LR_HALVING_EPOCHS} epochs)"),
                ('gamma', 0.5),
            ])),
            Comment(f"the authors' {task.experiment}/code/option.py: --epochs {task.epochs} x --test_every "
                    f'{ITERATIONS_PER_EPOCH} batches per epoch'),
            Comment(f'(their {task.train_script} changes neither)'),
            ('total_iter', total_iter),
            ('warmup_iter', -1, 'no warm up'),
            BLANK,
            Comment('losses'),
            ('pixel_opt', Map([('type', 'MSELoss', loss_note), ('loss_weight', 1.0), ('reduction', 'mean')])),
        ])),
        *section('validation settings', 'val', Map([
            ('val_freq', VAL_FREQ),
            ('save_img', False),
            ('tile', None, 'whole images: exact; memory ~H*W, time ~(H*W)^2 ({size: 128, overlap: 16}: tiles)'),
            ('self_ensemble', False),
            ('tb_images', 3, 'validation images sent to TensorBoard (LQ | output | GT)'),
            ('metrics', metric_entries(exp)),
        ])),
        *section('logging settings', 'logger', Map([
            ('print_freq', 100),
            ('save_checkpoint_freq', CHECKPOINT_FREQ),
            ('use_tb_logger', True, 'tensorboard --logdir tb_logger'),
            ('wandb', Map([('project', None), ('resume_id', None)])),
        ])),
        *section('dist training settings', 'dist_params', Map([('backend', 'nccl'), ('port', 29500)])),
    ]


def test_entries(exp):
    datasets = []
    for i, set_name in enumerate(exp.task.test_sets, start=1):
        if i > 1:
            datasets.append(BLANK)
        datasets.append((f'test_{i}', Map(test_set_entries(exp, set_name))))
    return header(exp, 'test') + [
        Comment('general settings'),
        ('name', f'RNAN_{exp.name}', 'results/<name>/: the log with PSNR / SSIM, visualization/<set>/ the images'),
        ('model_type', 'RNANModel'),
        ('scale', exp.scale),
        ('num_gpu', 'auto', 'all visible GPUs, 0 without CUDA'),
        *section(['test datasets: the fixed inputs made by the commands above.'] + datasets_comment(exp), 'datasets',
                 Map(datasets)),
        *section('network structures', 'network_g', network_entries(exp)),
        *section('path', 'path', Map([
            ('pretrain_network_g', f'experiments/pretrained_models/RNAN_{exp.name}.pth'),
            Comment(f"^ the authors' {exp.task.checkpoint.format(exp.level)} converted by "
                    'scripts/convert_official_rnan.py, or your own'),
            Comment(f'  experiments/RNAN_{exp.name}/models/net_g_latest.pth'),
            ('param_key_g', 'params', 'converted checkpoints and runs without EMA; params_ema after ema_decay > 0'),
            ('strict_load_g', True),
        ])),
        *section('validation settings', 'val', Map([
            ('save_img', True),
            ('suffix', None, 'images saved as <image>_<name>.png'),
            ('tile', None, 'whole images: exact; memory ~H*W, time ~(H*W)^2 ({size: 128, overlap: 16}: tiles)'),
            ('self_ensemble', False, 'true: RNAN+ of the paper (x8 flips and rotations averaged, 8x the time)'),
            ('pbar', True, 'a progress bar per image (and per tile / self-ensemble pass)'),
            ('metrics', metric_entries(exp)),
        ])),
    ]


def entries_of(kind, exp):
    return train_entries(exp) if kind == 'train' else test_entries(exp)


def option_texts():
    """``{file name: YAML text}`` of the 32 option files, in a fixed order."""
    texts = OrderedDict()
    for exp in EXPERIMENTS:
        for kind in ('train', 'test'):
            texts[option_file_name(kind, exp.task, exp.level)] = '\n'.join(render(entries_of(kind, exp))) + '\n'
    return texts


def differing_files(folder, texts):
    """Names of ``texts`` (:func:`option_texts`) that are missing in ``folder`` or differ there."""
    paths = {osp.join(folder, name): text for name, text in texts.items()}
    return [osp.basename(path) for path in differing_texts(paths)]


def write_all(folder, texts):
    """Write the files of ``texts`` that differ (atomically: a temporary name, then a rename); returns their names."""
    changed = differing_files(folder, texts)
    for name in changed:
        write_text(osp.join(folder, name), texts[name])
    return changed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--output', default=OPTIONS_DIR, help=f'folder of the option files (default: {OPTIONS_DIR})')
    parser.add_argument(
        '--check', action='store_true', help='write nothing; exit 1 listing the files that differ or are missing')
    args = parser.parse_args(argv)
    texts = option_texts()
    if args.check:
        differ = differing_files(args.output, texts)
        if differ:
            print(f'{len(differ)} of {len(texts)} option files in {args.output} differ from '
                  'scripts/generate_options.py (run it without --check to rewrite them):', file=sys.stderr)
            for name in differ:
                print(f'  {name}', file=sys.stderr)
            return 1
        print(f'All {len(texts)} option files in {args.output} are up to date.')
        return 0
    changed = write_all(args.output, texts)
    print(f'Wrote {len(changed)} of {len(texts)} option files to {args.output}'
          + (f': {", ".join(changed)}' if changed else ' (all were up to date).'))
    return 0
