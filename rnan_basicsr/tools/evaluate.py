"""Paper-style PSNR / SSIM tables (Markdown and CSV), a visual strip (LQ | RNAN | GT crops) and a browsable
report.html for RNAN results (the logic of ``scripts/evaluate.py``).

From ``basicsr test`` results: give the test option files (one per level); the restored images are read from
``results/<name>/visualization/<dataset>/`` and the ground truth (and LQ) from the option file's own datasets, so
the numbers are those ``basicsr test`` logged, now in one table:

    python scripts/evaluate.py --task sr --opt options/test_RNAN_SR_x2.yml options/test_RNAN_SR_x3.yml \
        options/test_RNAN_SR_x4.yml --out results/eval_sr

From folders (e.g. ``scripts/inference_rnan.py`` outputs): one ``--restored`` and ``--gt`` (optional ``--lq``,
``--dataset``, ``--level``) per test set and level; files pair by name (``baby.png`` with ``baby.png`` or
``baby_<suffix>.png``, also ``babyx2.png`` / ``babyx2_<suffix>.png``):

    python scripts/evaluate.py --task car --restored results/LIVE1_q10 --gt datasets/LIVE1/Y --lq datasets/LIVE1/Q10 \
        --dataset LIVE1 --level q=10 --out results/eval_car

Every table is printed with its evaluation protocol above it (``--task``'s metric fields in rnan_basicsr/tasks.py):
denoising and demosaicing on the image's own channels, JPEG artifact reduction on Y, super-resolution on Y with
``scale`` pixels cropped at each border; PSNR / SSIM are BasicSR's ``calculate_psnr`` / ``calculate_ssim``. Written
to ``--out``: ``table.md``, ``table.csv``, ``per_image.csv``, ``strip.png``, and ``report.html`` with its images in
``report_files/`` (per set, one row per image: PSNR, SSIM and an LQ | output | GT comparison with a slider and
zoom; relative links, so the folder can be copied). Errors print one line, exit status 2.
"""
import argparse
import cv2
import numpy as np
import re
from collections import OrderedDict, namedtuple
from os import path as osp
from tqdm import tqdm

import rnan_basicsr  # noqa: F401  (makes basicsr importable and registers RNAN)
from rnan_basicsr.data.data_util import check_lmdb
from rnan_basicsr.options.schema import Options
from rnan_basicsr.tasks import TASKS
from rnan_basicsr.tools.results import HtmlTable, ImageRecord, ImageStore, SetResult, mean, write_results
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.image_io import list_images, read_image, write_image
from rnan_basicsr.utils.script_util import run_main

PROG = 'evaluate.py'

# one image to score: ``restored`` against ``gt`` (``lq`` or None for the strip and the report); ``*_path`` name them in
# messages; ``variants`` are other restorations of the same input, scored as ``<variant>_psnr`` / ``<variant>_ssim``
Item = namedtuple('Item', ['name', 'restored', 'gt', 'lq', 'restored_path', 'gt_path', 'variants'], defaults=({}, ))
# one evaluated set: a test set at one level; ``items()`` yields ``count`` Items
EvalSet = namedtuple('EvalSet', ['dataset', 'level', 'scale', 'items', 'source', 'count'])


def protocol_text(task, scales):
    """The evaluation protocol of ``task`` in one paragraph (printed above every table)."""
    spec = TASKS[task]
    if spec.crop_border:
        crops = ', '.join(f'x{s}: {s} px' for s in sorted(set(scales)))
        border = f'a border of `scale` pixels cropped on every side ({crops})'
    else:
        border = 'no border cropped'
    return (f'Evaluation protocol (--task {task}, {spec.title}): PSNR (dB) and SSIM with BasicSR calculate_psnr / '
            f'calculate_ssim on 8-bit images, computed on {spec.metric_channels}, {border}; each value is the mean '
            'over the images of the set.')


# pairing files
def _stem(path):
    return osp.splitext(osp.basename(path))[0]


# what may follow a ground-truth name: a scale tag (DIV2K's ``0801x2``) and/or a suffix (``baby_RNAN``)
_NAME_TAIL = re.compile(r'(x\d+)?([_-].*)?')


def _match(gt_stem, candidates):
    """Candidates named ``gt_stem``, else ``gt_stem`` + ``x<scale>`` and/or ``_<suffix>`` (e.g. ``babyx2_RNAN``)."""
    exact = [c for c in candidates if _stem(c) == gt_stem]
    if exact:
        return exact
    return [c for c in candidates if _stem(c).startswith(gt_stem) and _NAME_TAIL.fullmatch(_stem(c)[len(gt_stem):])]


def pair_files(gt_files, other_files, other_what, gt_folder, other_folder):
    """Pair each ground-truth file with exactly one file of ``other_files`` by name.

    Raises:
        InputError: naming the first ground-truth file without a partner (or with several), and the first other file
            that pairs with no ground truth.
    """
    pairs, used = [], set()
    for gt in gt_files:
        found = _match(_stem(gt), other_files)
        if not found:
            raise InputError(f'no {other_what} file in {other_folder!r} for ground truth {gt!r} (looked for '
                             f'{_stem(gt)}.*, {_stem(gt)}_<suffix>.* or {_stem(gt)}x<scale>[_<suffix>].*); '
                             f'{len(gt_files)} ground-truth and {len(other_files)} {other_what} files.')
        if len(found) > 1:
            raise InputError(f'ground truth {gt!r} matches several {other_what} files: {", ".join(found[:4])}.')
        pairs.append((gt, found[0]))
        used.add(found[0])
    unmatched = [f for f in other_files if f not in used]
    if unmatched:
        raise InputError(f'{other_what} file {unmatched[0]!r} has no ground truth in {gt_folder!r} '
                         f'({len(unmatched)} unmatched in all).')
    return pairs


# sources: folders, or the datasets of test option files
def folder_sets(task, restored_dirs, gt_dirs, lq_dirs, datasets, levels, scales):
    """EvalSets from folders; the lists have one entry per set (``lq_dirs`` / ``datasets`` / ``levels`` may be
    empty, ``scales`` may have one value for all)."""
    count = len(restored_dirs)
    if len(gt_dirs) != count:
        raise InputError(f'give one --gt per --restored: {count} --restored, {len(gt_dirs)} --gt.')
    for name, values in (('--lq', lq_dirs), ('--dataset', datasets), ('--level', levels)):
        if values and len(values) != count:
            raise InputError(f'give {name} for every --restored or for none: {count} --restored, {len(values)} '
                             f'{name}.')
    if task == 'sr':
        if not scales:
            raise InputError('--task sr needs --scale (the SR factor: the border cropped), once or per --restored.')
        if len(scales) not in (1, count):
            raise InputError(f'give --scale once or once per --restored: {count} --restored, {len(scales)} --scale.')
    elif scales:
        raise InputError(f'--scale applies to --task sr only (got --task {task}).')
    sets = []
    for i, (restored_dir, gt_dir) in enumerate(zip(restored_dirs, gt_dirs)):
        scale = (scales[i] if len(scales) == count else scales[0]) if scales else 1
        gt_files = list_images(gt_dir, '--gt')
        pairs = pair_files(gt_files, list_images(restored_dir, '--restored'), 'restored', gt_dir, restored_dir)
        lq_of = {}
        if lq_dirs:
            lq_of = dict(pair_files(gt_files, list_images(lq_dirs[i], '--lq'), 'LQ', gt_dir, lq_dirs[i]))
        dataset = datasets[i] if datasets else osp.basename(osp.normpath(gt_dir))
        level = levels[i] if levels else (f'x{scale}' if task == 'sr' else '')

        def items(pairs=pairs, lq_of=lq_of):
            for gt_path, restored_path in pairs:
                lq = read_image(lq_of[gt_path]) if gt_path in lq_of else None
                yield Item(_stem(gt_path), read_image(restored_path), read_image(gt_path), lq, restored_path, gt_path)

        sets.append(EvalSet(dataset, level, scale, items, f'{restored_dir} vs {gt_dir}', len(pairs)))
    return sets


def is_data_path(key, value):
    """Whether a dataset option names a file or folder of images (``dataroot_*``, ``meta_info_file``)."""
    return (key.startswith('dataroot') or key == 'meta_info_file') and isinstance(value, str)


def dataset_options(opt, root, names=None):
    """The test / val datasets of an option file (those named in ``names``, if given) as ``basicsr test`` passes
    them to their classes, relative data paths taken from ``root`` (where basicsr test runs)."""
    from rnan_basicsr.command.preflight import dataset_as_basicsr_passes_it

    found = []
    for key, dataset_opt in (opt.get('datasets') or {}).items():
        if key.split('_')[0] in ('test', 'val') and isinstance(dataset_opt, dict) and (
                names is None or dataset_opt.get('name') in names):
            dataset_opt = dataset_as_basicsr_passes_it(opt, key, dataset_opt)
            dataset_opt.update({k: osp.normpath(osp.join(root, osp.expanduser(v))) for k, v in dataset_opt.items()
                                if is_data_path(k, v)})
            found.append(dataset_opt)
    return found


def build_test_dataset(dataset_opt, opt_path):
    """BasicSR's ``build_dataset`` of one of :func:`dataset_options`; what it refuses is an InputError."""
    from basicsr.data import build_dataset

    key = dataset_opt['datasets_key']
    if (dataset_opt.get('io_backend') or {}).get('type') == 'lmdb':  # before BasicSR's readers map it
        for data_key in ('dataroot_gt', 'dataroot_lq'):
            if isinstance(dataset_opt.get(data_key), str):
                check_lmdb(dataset_opt[data_key], f'{opt_path}: datasets.{key}.{data_key}')
    try:
        return build_dataset(dataset_opt)
    except InputError:
        raise
    except Exception as error:  # BasicSR's datasets raise bare errors (e.g. a missing folder)
        raise InputError(f'cannot build dataset {key} ({dataset_opt["name"]}) of {opt_path!r}: '
                         f'{type(error).__name__}: {error}') from None


def dataset_images(dataset, name):
    """``(image name, data, gt, lq)`` of every item of a built test dataset named ``name`` (images 8-bit HWC)."""
    from basicsr.utils import tensor2img

    for index in range(len(dataset)):
        data = dataset[index]
        if 'gt' not in data:
            raise InputError(f'dataset {name} gives no ground truth (gt); evaluation needs it.')
        yield _stem(data['lq_path']), data, tensor2img(data['gt']), tensor2img(data['lq'])


def _auto_level(task, opt, dataset_opt, scale):
    if task == 'sr':
        return f'x{scale}'
    if task in ('dn_rgb', 'dn_gray') and dataset_opt.get('sigma') is not None:
        return f'sigma={dataset_opt["sigma"]}'
    if task == 'car' and dataset_opt.get('quality') is not None:
        return f'q={dataset_opt["quality"]}'
    return '' if task == 'demosaic' else opt['name']


def _check_metric_options(task, opt, opt_path, scale):
    """A note when the option file's own metrics follow another protocol than the --task spec."""
    spec = TASKS[task]
    notes = []
    for name, metric in ((opt.get('val') or {}).get('metrics') or {}).items():
        crop = metric.get('crop_border', 0)
        expected_crop = scale if spec.crop_border else 0
        if crop != expected_crop or bool(metric.get('test_y_channel', False)) != spec.y_channel:
            notes.append(f'note: {opt_path} measures {name} with crop_border={crop}, '
                         f'test_y_channel={metric.get("test_y_channel", False)}; this table follows the --task '
                         f'{task} protocol (crop_border={expected_crop}, test_y_channel={spec.y_channel}).')
    return notes


def option_sets(task, opt_paths, root, levels):
    """EvalSets from test option files: results from ``<root>/results/<name>/visualization/<dataset>/``, ground
    truth and LQ from the option file's datasets (built as ``basicsr test`` builds them)."""
    from rnan_basicsr.options.loader import load_option_file

    if levels and len(levels) != len(opt_paths):
        raise InputError(f'give --level for every --opt or for none: {len(opt_paths)} --opt, {len(levels)} --level.')
    sets, notes = [], []
    for i, opt_path in enumerate(opt_paths):
        opt = load_option_file(opt_path)
        if not opt.get('name') or not isinstance(opt.get('datasets'), dict):
            raise InputError(f'{opt_path!r} is not a BasicSR test option file (needs name and datasets).')
        scale = int(Options.model_construct(**opt).scale)
        notes += _check_metric_options(task, opt, opt_path, scale)
        suffix = (opt.get('val') or {}).get('suffix') or opt['name']
        for dataset_opt in dataset_options(opt, root):
            name = dataset_opt['name']
            result_dir = osp.join(root, 'results', opt['name'], 'visualization', name)
            if not osp.isdir(result_dir):
                raise InputError(f'no results for {name} of {opt_path!r}: {result_dir!r} does not exist. Run basicsr '
                                 f'test -opt {opt_path} first (with val.save_img: true).')
            dataset = build_test_dataset(dataset_opt, opt_path)

            def items(dataset=dataset, result_dir=result_dir, name=name, suffix=suffix):
                for img_name, data, gt, lq in dataset_images(dataset, name):
                    restored_path = osp.join(result_dir, f'{img_name}_{suffix}.png')
                    if not osp.isfile(restored_path):
                        raise InputError(f'no restored image for {img_name} of {name}: {restored_path!r} is missing '
                                         f'({len(dataset)} images in the dataset). Rerun basicsr test with '
                                         'val.save_img: true.')
                    yield Item(img_name, read_image(restored_path), gt, lq, restored_path, data.get('gt_path', name))

            level = levels[i] if levels else _auto_level(task, opt, dataset_opt, scale)
            sets.append(EvalSet(name, level, scale, items, opt_path, len(dataset)))
    return sets, notes


# metrics
def _comparable(restored, gt, task, scale, restored_path, gt_path):
    """Bring a restored image and its ground truth to the protocol's channels and the same size."""
    from basicsr.metrics.metric_util import to_y_channel

    spec = TASKS[task]
    if spec.crop_border and restored.shape[:2] != gt.shape[:2]:
        # BasicSR crops the HR image to a multiple of the scale (mod crop) before testing
        height, width = restored.shape[:2]
        if 0 <= gt.shape[0] - height < scale and 0 <= gt.shape[1] - width < scale:
            gt = gt[:height, :width]
    if restored.shape[:2] != gt.shape[:2]:
        raise InputError(f'{restored_path!r} is {restored.shape[1]}x{restored.shape[0]} but its ground truth '
                         f'{gt_path!r} is {gt.shape[1]}x{gt.shape[0]}.')
    if restored.dtype != np.uint8 or gt.dtype != np.uint8:
        raise InputError(f'{restored_path!r} / {gt_path!r}: evaluation is on 8-bit images (found {restored.dtype} and '
                         f'{gt.dtype}).')
    if spec.y_channel:  # as calculate_psnr(test_y_channel=True) does, also when one image is grey (taken as Y)
        restored, gt = (to_y_channel(img if img.ndim == 3 else img[..., None]) for img in (restored, gt))
    elif restored.ndim != gt.ndim:
        if task == 'dn_gray':  # a grey image saved with 3 equal channels
            restored, gt = (img[..., 0] if img.ndim == 3 and _equal_channels(img) else img for img in (restored, gt))
        if restored.ndim != gt.ndim:
            raise InputError(f'{restored_path!r} has {_channels(restored)} channel(s) but its ground truth '
                             f'{gt_path!r} has {_channels(gt)}; --task {task} compares the image\'s own channels.')
    return restored, gt


def _channels(img):
    return 1 if img.ndim == 2 else img.shape[2]


def _equal_channels(img):
    return np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2])


def score(restored, gt, task, scale, restored_path='restored', gt_path='ground truth'):
    """PSNR and SSIM of one restored image against its ground truth by ``task``'s protocol (8-bit, HWC)."""
    from basicsr.metrics import calculate_psnr, calculate_ssim

    crop_border = scale if TASKS[task].crop_border else 0
    restored_m, gt_m = _comparable(restored, gt, task, scale, restored_path, gt_path)
    psnr = calculate_psnr(restored_m, gt_m, crop_border, input_order='HWC', test_y_channel=False)
    ssim = calculate_ssim(restored_m, gt_m, crop_border, input_order='HWC', test_y_channel=False)
    return float(psnr), float(ssim)


def evaluate_set(eval_set, task, store, strip_image=None, verbose=False):
    """PSNR / SSIM of every image of ``eval_set`` (and of its variants); keeps one sample (LQ, restored, GT) for the
    strip, and writes every image's LQ / output / GT (cropped to the output) into ``store`` (a results.ImageStore) for
    the report, in ``<dataset>[_<level>]/``. Progress: a bar per image (stderr) for sets of two or more, or with
    ``verbose`` a printed line per image."""
    label = f'{eval_set.dataset} {eval_set.level}'.strip()
    folder = f'{eval_set.dataset}_{eval_set.level}' if eval_set.level else eval_set.dataset
    records, sample, images = [], None, {}
    bar = tqdm(eval_set.items(), total=eval_set.count, unit='image', leave=False, desc=folder,
               disable=verbose or eval_set.count < 2)
    for item in bar:
        psnr, ssim = score(item.restored, item.gt, task, eval_set.scale, item.restored_path, item.gt_path)
        extra = {}
        for variant, img in item.variants.items():
            extra[f'{variant}_psnr'], extra[f'{variant}_ssim'] = score(img, item.gt, task, eval_set.scale,
                                                                       f'{item.gt_path} ({variant})', item.gt_path)
        records.append(ImageRecord(item.name, psnr, ssim, extra))
        height, width = item.restored.shape[:2]
        gt = item.gt[:height, :width]
        shown = {'output': item.restored, 'gt': gt, **({'lq': item.lq} if item.lq is not None else {})}
        images[item.name] = ({kind: store.save(folder, item.name, kind, img) for kind, img in shown.items()},
                             (width, height))
        if verbose:
            print(f'  {label} {item.name}: {psnr:.2f} dB' + ''.join(
                f' ({variant} {extra[variant + "_psnr"]:.2f} dB)' for variant in item.variants), flush=True)
        if sample is None and (strip_image is None or item.name == strip_image):
            sample = dict(name=item.name, lq=item.lq, restored=item.restored, gt=gt, psnr=psnr)
    if not records:
        raise InputError(f'no images to evaluate in {eval_set.source}.')
    return SetResult(eval_set.dataset, eval_set.level, eval_set.scale, records, sample, images)


# outputs
def summary_table(results):
    """(header, rows) of the summary: rows are test sets, columns levels, cells ``PSNR / SSIM`` (2 and 4 decimals,
    as in the paper)."""
    datasets = list(OrderedDict.fromkeys(r.dataset for r in results))
    levels = list(OrderedDict.fromkeys(r.level for r in results))
    cells = {(r.dataset, r.level): f'{mean(r.records, "psnr"):.2f} / {mean(r.records, "ssim"):.4f}' for r in results}
    header = ['Dataset (PSNR / SSIM)'] + [level or 'RNAN' for level in levels]
    return header, [[dataset] + [cells.get((dataset, level), '-') for level in levels] for dataset in datasets]


def markdown(header, rows):
    lines = ['| ' + ' | '.join(str(c) for c in header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


def _to_bgr(img):
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img)


def _band(width, texts, height=16):
    """A white band ``width`` pixels wide with ``texts`` (``[(x, text)]``) written in black."""
    band = np.full((height, width, 3), 255, np.uint8)
    for x, text in texts:
        cv2.putText(band, text, (x, height - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return band


def make_strip(results, crop=96, crop_at=None):
    """One row per evaluated set: crops of ``LQ | RNAN | GT`` (LQ enlarged to the GT's size, nearest neighbour)
    around the centre (or ``crop_at = (y, x)``, the top-left corner in GT pixels). Returns a BGR uint8 image."""
    rows, titles = [], None
    for result, sample in ((r, r.sample) for r in results if r.sample is not None):
        restored, gt = _to_bgr(sample['restored']), _to_bgr(sample['gt'])
        height, width = restored.shape[:2]
        panels = {'RNAN': restored, 'GT': gt}
        if sample['lq'] is not None:
            panels = {'LQ': cv2.resize(_to_bgr(sample['lq']), (width, height), interpolation=cv2.INTER_NEAREST),
                      **panels}
        size_y, size_x = min(crop, height), min(crop, width)
        top, left = (height - size_y) // 2, (width - size_x) // 2
        if crop_at is not None:
            top, left = min(max(0, crop_at[0]), height - size_y), min(max(0, crop_at[1]), width - size_x)
        separator = np.full((size_y, 2, 3), 255, np.uint8)
        row = np.concatenate([piece for panel in panels.values()
                              for piece in (panel[top:top + size_y, left:left + size_x], separator)][:-1], axis=1)
        text = f'{result.dataset} {result.level} {sample["name"]}: {sample["psnr"]:.2f} dB'.replace('  ', ' ')
        rows.append(np.concatenate([_band(row.shape[1], [(2, text)]), row], axis=0))
        titles = titles or [(i * (size_x + 2) + 2, title) for i, title in enumerate(panels)]  # above each column
    if not rows:
        return None
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, 4), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    return np.concatenate([_band(width, titles)] + rows, axis=0)


def run(args):
    if args.crop < 1:
        raise InputError(f'--crop must be >= 1, got {args.crop}.')
    if args.opt and args.restored:
        raise InputError('give either --opt (basicsr test results) or --restored/--gt folders, not both.')
    if args.opt:
        sets, notes = option_sets(args.task, args.opt, args.root, args.level or [])
    elif args.restored:
        sets, notes = folder_sets(args.task, args.restored, args.gt or [], args.lq or [], args.dataset or [],
                                  args.level or [], args.scale or []), []
    else:
        raise InputError('nothing to evaluate: give --opt test option files, or --restored and --gt folders.')
    with ImageStore() as store:
        results = [evaluate_set(s, args.task, store, args.strip_image) for s in sets]
        store.publish(args.out)
    protocol = protocol_text(args.task, [r.scale for r in results])
    header, rows = summary_table(results)
    table = markdown(header, rows)
    for note in notes:
        print(note)
    print(protocol + '\n\n' + table)

    spec = TASKS[args.task]
    strip = make_strip(results, args.crop, args.crop_at)
    if strip is not None:
        write_image(osp.join(args.out, 'strip.png'), strip)
    elif args.strip_image:
        print(f'note: no set has an image named {args.strip_image!r}; strip.png not written.')
    write_results(args.out, args.task, f'{protocol}\n\n{table}\n', results, ['crop_border', 'y_channel'],
                  [[r.scale if spec.crop_border else 0, spec.y_channel] for r in results],
                  f'RNAN evaluation: {spec.title}', protocol, HtmlTable('', header, rows), notes=notes)
    print(f'Wrote {osp.join(args.out, "table.md")}, table.csv, per_image.csv'
          f'{", strip.png" if strip is not None else ""}, report.html (+ report_files/)')
    return results


def build_parser():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--task', required=True, choices=list(TASKS),
                        help='the task: its evaluation protocol (rnan_basicsr/tasks.py, see above)')
    parser.add_argument('--opt', nargs='+', help='test option files whose basicsr test results to evaluate')
    parser.add_argument('--root', default='.', help='where basicsr test ran (holds results/; default: here)')
    parser.add_argument('--restored', action='append', help='a folder of restored images (repeat per set)')
    parser.add_argument('--gt', action='append', help='its ground-truth folder (one per --restored)')
    parser.add_argument('--lq', action='append', help='its degraded inputs, for the strip (optional)')
    parser.add_argument('--dataset', action='append', help='test set name (default: the --gt folder name)')
    parser.add_argument('--level', action='append', help='column label, e.g. sigma=30, q=10, x2 (per set)')
    parser.add_argument('--scale', action='append', type=int, help='sr: the scale (border crop), once or per set')
    parser.add_argument('--out', default='results/evaluation', help='output folder (default: results/evaluation)')
    parser.add_argument('--strip_image', default=None, help='image (name without extension) shown in the strip')
    parser.add_argument('--crop', type=int, default=96, help='side of the strip crops in GT pixels (default 96)')
    parser.add_argument('--crop_at', type=int, nargs=2, metavar=('Y', 'X'), default=None,
                        help='top-left corner of the crops (default: centred)')
    return parser


def main(argv=None):
    return run_main(PROG, run, build_parser().parse_args(argv))
