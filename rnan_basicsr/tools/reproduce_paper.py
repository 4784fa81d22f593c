"""Reproduce one task's table of the RNAN paper in one command: the paper's, ours and the difference per cell.

    python scripts/reproduce_paper.py --task car --weights experiments/pretrained_models
    python scripts/reproduce_paper.py --task sr --levels 4 --sets Set5 Set14 --also_chopped

For every level of ``--task`` (rnan_basicsr/tasks.py) it reads the test option file ``options/test_RNAN_<EXP>.yml``,
loads its checkpoint from ``--weights`` (the file name the option file gives) into ``RNANModel`` and restores every
image of the option file's test sets as ``basicsr test`` does (same datasets, same model, whole images, in this
process). Each image is scored by the task's protocol (the line printed above the table, with the authors' Matlab
protocol and how BasicSR's metrics compare to it), and each cell (test set x level) reads: the paper's published value
(rnan_basicsr/paper_results.py, Tables 2-6: "—" for the SSIM the denoising tables do not give, "not in the paper" for
SR x3 and for RNAN+ outside Table 6), ours, and the difference ours - paper.

Test sets of your own may stand in the option files (``--options``) beside or instead of the paper's: they run the
same way, their paper column reading "not in the paper" (e.g. to measure the chop on other images).

``--also_chopped`` restores the same images a second time with the authors' test-time chopping (their
``forward_chop``: four overlapping corner pieces, recursively, no blending; rnan_basicsr/chop.py) and reports the
per-cell difference against exact whole-image inference: how much the published numbers owe to chopping.

Written to ``--out``: ``table.md`` (protocol + table), ``table.csv``, ``per_image.csv`` and ``report.html`` (the
table, then per test set one row per image with its figures and an LQ | output | GT comparison; images in
``report_files/``). Missing checkpoints or test sets are named in one line with the docs section that says how
to get them, before anything runs. Errors print one line, exit status 2.
"""
import argparse
import copy
import functools
import time
import torch
from collections import namedtuple
from os import path as osp

import rnan_basicsr  # noqa: F401  (makes basicsr importable and registers RNAN)
from rnan_basicsr import paper_results
from rnan_basicsr.authors_protocol import protocol_note
from rnan_basicsr.chop import authors_min_size, chop_forward
from rnan_basicsr.tasks import experiment_name, get_task, option_file_name
from rnan_basicsr.tools import report
from rnan_basicsr.tools.evaluate import markdown, protocol_text, save_report_images, score, set_key
from rnan_basicsr.tools.results import ImageRecord, csv_score, mean, write_results
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.script_util import run_main
from rnan_basicsr.utils.validation import did_you_mean

PROG = 'reproduce_paper.py'
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
README_WEIGHTS = 'docs/experiments.md, "The authors\' checkpoints"'
README_DATA = 'docs/experiments.md, "Data layout"'

# one cell of the table: a test set at one level, with its per-image results.ImageRecord (extra: chopped_psnr, _ssim)
Cell = namedtuple('Cell', ['dataset', 'level', 'records', 'images'])
# what one level needs: its option file, the checkpoint, and the datasets (option dicts, paths resolved)
Run = namedtuple('Run', ['level', 'opt_path', 'opt', 'weights', 'datasets'])


def level_label(task, level):
    """``sigma30``, ``q10``, ``x2``, or ``-`` (demosaicing has no level)."""
    return task.level.tag.format(level) if task.level is not None else '-'


def _parse_levels(task, values):
    if not values:
        return list(task.levels)
    if task.level is None:
        raise InputError(f'--levels: --task {task.key} ({task.title}) has no levels.')
    chosen = []
    for value in values:
        text = str(value)
        for prefix in (task.level.tag.format(''), task.level.name + '=', task.level.name):
            if text.startswith(prefix) and len(text) > len(prefix):
                text = text[len(prefix):]
        try:
            number = float(text)
        except ValueError:
            number = None
        match = [level for level in task.levels if number is not None and level == number]
        if not match:
            raise InputError(f'--levels {value!r} is not a level of --task {task.key} in the paper; its levels: '
                             f'{", ".join(str(v) for v in task.levels)} ({task.level.meaning}).')
        if match[0] not in chosen:
            chosen.append(match[0])
    return [level for level in task.levels if level in chosen]


def _parse_sets(task, values, names):
    """The test sets to run, in the order of ``names`` (the test sets of the option files: the paper's, or your own)."""
    if not values:
        return list(names)
    for value in values:
        if value not in names:
            raise InputError(f'--sets {value!r} is not a test set of --task {task.key}.'
                             f'{did_you_mean(value, names)} Its test sets: {", ".join(names)}.')
    return [name for name in names if name in values]


def option_set_names(args, task, levels):
    """The names of the test datasets in the option files of ``levels``: the paper's first, then any others."""
    from rnan_basicsr.options.loader import load_option_file

    names = []
    for level in levels:
        opt = load_option_file(osp.join(args.options, option_file_name('test', task, level)))
        for key, dataset_opt in (opt.get('datasets') or {}).items():
            name = (dataset_opt or {}).get('name')
            if key.split('_')[0] in ('test', 'val') and name and name not in names:
                names.append(name)
    return [n for n in task.test_sets if n in names] + [n for n in names if n not in task.test_sets]


def _resolve(path, root):
    path = osp.expanduser(path)
    return path if osp.isabs(path) else osp.normpath(osp.join(root, path))


def plan_runs(args, task, levels, sets):
    """The option file, checkpoint and datasets of every level; an InputError naming everything that is missing."""
    from rnan_basicsr.options.loader import load_option_file

    runs, missing_weights, missing_data = [], [], []
    for level in levels:
        opt_path = osp.join(args.options, option_file_name('test', task, level))
        opt = load_option_file(opt_path)
        pretrained = ((opt.get('path') or {}).get('pretrain_network_g')) or f'RNAN_{experiment_name(task, level)}.pth'
        weights = osp.join(args.weights, osp.basename(pretrained))
        if not osp.isfile(weights):
            missing_weights.append(weights)
        datasets = []
        for key, dataset_opt in (opt.get('datasets') or {}).items():
            if key.split('_')[0] not in ('test', 'val') or dataset_opt.get('name') not in sets:
                continue
            dataset_opt = copy.deepcopy(dataset_opt)
            dataset_opt['phase'] = 'test'
            dataset_opt['scale'] = opt.get('scale', 1)
            for data_key, value in list(dataset_opt.items()):
                if (data_key.startswith('dataroot') or data_key == 'meta_info_file') and isinstance(value, str):
                    dataset_opt[data_key] = _resolve(value, args.root)
                    if not osp.exists(dataset_opt[data_key]) and dataset_opt[data_key] not in missing_data:
                        missing_data.append(dataset_opt[data_key])
            datasets.append(dataset_opt)
        absent = [name for name in sets if name not in [d['name'] for d in datasets]]
        if absent:
            raise InputError(f'{opt_path!r} has no test dataset named {", ".join(absent)} (it has '
                             f'{", ".join(d.get("name", "?") for d in (opt.get("datasets") or {}).values())}).')
        runs.append(Run(level, opt_path, opt, weights, datasets))
    parts = []
    for what, paths, where in (('checkpoint', missing_weights, README_WEIGHTS), ('test set folder', missing_data,
                                                                                 README_DATA)):
        if paths:
            shown = ', '.join(paths[:4]) + (f', ... ({len(paths)} in all)' if len(paths) > 4 else '')
            parts.append(f'{what}s missing: {shown} (how to get them: {where})')
    if parts:
        raise InputError('; '.join(parts) + '.')
    return runs


def _device(name):
    if name == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise InputError(f'--device {name}: CUDA is not available here; use --device cpu.')
    return name


def build_rnan_model(run, device, self_ensemble):
    """RNANModel of the run's option file, as ``basicsr test`` builds it, with the checkpoint of ``--weights``."""
    from basicsr.models import build_model

    opt = copy.deepcopy(run.opt)
    opt.update(is_train=False, dist=False, rank=0, world_size=1, num_gpu=0 if device == 'cpu' else 1)
    opt['path'] = dict(opt.get('path') or {}, pretrain_network_g=run.weights)
    opt['path'].setdefault('strict_load_g', True)
    opt['val'] = dict(opt.get('val') or {}, tile=None, self_ensemble=self_ensemble)
    model = build_model(opt)
    if device.startswith('cuda:'):
        model.device = torch.device(device)
        model.net_g.to(model.device)
    return model


def _restore(model, forward):
    """``forward(net, lq)`` on the model's current input, network in eval mode, without gradients."""
    net = model.get_bare_model(model.net_g)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            return forward(net, model.lq)
    finally:
        net.train(was_training)


def _chopped_forward(scale, self_ensemble, min_size):
    from rnan_basicsr.test_time import self_ensemble_forward

    chop = functools.partial(chop_forward, scale=scale, min_size=min_size)
    return functools.partial(self_ensemble_forward, forward=chop) if self_ensemble else chop


def evaluate_run(run, task, args, device, store):
    """Restore and score every image of the run's datasets; returns one Cell per dataset."""
    from basicsr.data import build_dataset
    from basicsr.utils import tensor2img

    model = build_rnan_model(run, device, args.self_ensemble)
    scale = int(run.opt.get('scale', 1))
    chopped = _chopped_forward(scale, args.self_ensemble, args.chop_min_size) if args.also_chopped else None
    cells = []
    for dataset_opt in run.datasets:
        try:
            dataset = build_dataset(dataset_opt)
        except InputError:
            raise
        except Exception as error:  # BasicSR's datasets raise bare errors (e.g. unpaired folders)
            raise InputError(f'cannot build test set {dataset_opt["name"]} of {run.opt_path!r}: '
                             f'{type(error).__name__}: {error}') from None
        records, images = [], {}
        label = f'{dataset_opt["name"]} {level_label(task, run.level)}'
        for index in range(len(dataset)):
            data = dataset[index]
            name = osp.splitext(osp.basename(data['lq_path']))[0]
            model.feed_data({'lq': data['lq'][None], 'gt': data['gt'][None]})
            model.test()
            restored, gt, lq = (tensor2img(t.detach().cpu()) for t in (model.output, data['gt'], data['lq']))
            psnr, ssim = score(restored, gt, task.key, scale, f'{label} {name} (restored)', f'{label} {name}')
            extra = {}
            if chopped is not None:
                chopped_img = tensor2img(_restore(model, chopped).detach().cpu())
                extra['chopped_psnr'], extra['chopped_ssim'] = score(chopped_img, gt, task.key, scale,
                                                                     f'{label} {name} (chopped)', f'{label} {name}')
            records.append(ImageRecord(name, psnr, ssim, extra))
            images[name] = save_report_images(store, set_key(dataset_opt['name'], level_label(task, run.level)), name,
                                              lq, restored, gt)
            print(f'  {label} {name}: {psnr:.2f} dB' + (f' (chopped {extra["chopped_psnr"]:.2f} dB)' if extra else ''),
                  flush=True)
        if not records:
            raise InputError(f'test set {dataset_opt["name"]} of {run.opt_path!r} has no images.')
        cells.append(Cell(dataset_opt['name'], run.level, records, images))
    return cells


def _diff(a, b, digits):
    return f'{a - b:+.{digits}f}'


def paper_value(task, cell, self_ensemble):
    """The paper's :class:`~rnan_basicsr.paper_results.Published` of a cell; a test set of your own is not in it."""
    try:
        return paper_results.published(task.key, cell.dataset, cell.level, self_ensemble)
    except KeyError:
        return paper_results.Published(None, None, None, 'RNAN+' if self_ensemble else 'RNAN',
                                       paper_results.NOT_IN_PAPER)


def result_table(task, cells, also_chopped, self_ensemble):
    """(header, rows) of the reproduction table: one row per test set and level, published | ours | Δ."""
    method = 'RNAN+' if self_ensemble else 'RNAN'
    header = ['Test set', task.level.name if task.level else 'level', f'paper {method} PSNR / SSIM',
              f'ours {method} PSNR / SSIM', 'Δ ours - paper']
    if also_chopped:
        header += ['ours, chopped PSNR / SSIM', 'chopped - whole']
    rows = []
    for cell in cells:
        psnr, ssim = mean(cell.records, 'psnr'), mean(cell.records, 'ssim')
        paper = paper_value(task, cell, self_ensemble)
        row = [cell.dataset, level_label(task, cell.level), paper_results.describe(paper), f'{psnr:.2f} / {ssim:.4f}',
               paper_results.difference(psnr, ssim, paper)]
        if also_chopped:
            c_psnr, c_ssim = mean(cell.records, 'chopped_psnr'), mean(cell.records, 'chopped_ssim')
            row += [f'{c_psnr:.2f} / {c_ssim:.4f}', f'{_diff(c_psnr, psnr, 2)} / {_diff(c_ssim, ssim, 4)}']
        rows.append(row)
    return header, rows


def inference_text(task, args):
    scale = max(task.levels) if task.level is not None and task.level.name == 'scale' else 1
    text = ('Inference: RNANModel on whole images (exact non-local attention), '
            + ('x8 self-ensemble (RNAN+)' if args.self_ensemble else 'no self-ensemble (RNAN)'))
    if args.also_chopped:
        min_size = args.chop_min_size or authors_min_size(scale)
        text += (f'; chopped: the authors\' forward_chop (4 corner pieces of (side // 2 // 4) * 4 + 12 pixels, '
                 f'chopped again while a piece has >= {min_size} pixels, no blending)')
    return text + '.'


def run(args):
    task = get_task(args.task)
    levels = _parse_levels(task, args.levels)
    names = option_set_names(args, task, levels)
    sets = _parse_sets(task, args.sets, names)
    if args.chop_min_size is not None and args.chop_min_size < 1:
        raise InputError(f'--chop_min_size must be >= 1, got {args.chop_min_size}.')
    runs = plan_runs(args, task, levels, sets)
    device = _device(args.device)
    start = time.time()
    print(f'Reproducing the paper\'s {task.title} table: {len(runs)} level(s) x {len(sets)} test set(s) on {device}'
          f'{" (+ the authors chop)" if args.also_chopped else ""}', flush=True)
    cells = []
    with report.ImageStore() as store:
        for r in runs:
            print(f'{r.opt_path} with {r.weights}', flush=True)
            cells += evaluate_run(r, task, args, device, store)
        store.publish(args.out)
    cells.sort(key=lambda c: (names.index(c.dataset), task.levels.index(c.level)))

    scales = [int(r.opt.get('scale', 1)) for r in runs]
    protocol = protocol_text(task.key, scales)
    inference = inference_text(task, args)
    authors = protocol_note(task.key)
    coverage = paper_results.coverage_text(task.key, args.self_ensemble)
    header, rows = result_table(task, cells, args.also_chopped, args.self_ensemble)
    table = markdown(header, rows)
    text = f'{protocol}\n{authors}\n{inference}\n{coverage}\n\n{table}\n'
    print('\n' + text)
    csv_header = ['task', 'dataset', 'level', 'images', 'psnr', 'ssim', 'paper_psnr', 'paper_ssim', 'paper_table',
                  'paper_status']
    if args.also_chopped:
        csv_header += ['chopped_psnr', 'chopped_ssim']
    csv_rows = []
    for cell in cells:
        paper = paper_value(task, cell, args.self_ensemble)
        row = [task.key, cell.dataset, level_label(task, cell.level), len(cell.records),
               csv_score('psnr', mean(cell.records, 'psnr')), csv_score('ssim', mean(cell.records, 'ssim')),
               '' if paper.psnr is None else paper.psnr, '' if paper.ssim is None else paper.ssim,
               '' if paper.table is None else paper.table, paper.status]
        if args.also_chopped:
            row += [csv_score(c, mean(cell.records, c)) for c in ('chopped_psnr', 'chopped_ssim')]
        csv_rows.append(row)

    def extra(cell, record):
        if not args.also_chopped:
            return []
        c_psnr, c_ssim = record.extra['chopped_psnr'], record.extra['chopped_ssim']
        return [f'{c_psnr:.2f}', f'{c_ssim:.4f}', f'{c_psnr - record.psnr:+.2f}']

    sections = []
    for cell in cells:
        columns = ['PSNR (dB)', 'SSIM']
        if args.also_chopped:
            columns += ['chopped PSNR', 'chopped SSIM', 'chopped - whole (dB)']
        image_rows = []
        for record in cell.records:
            images, size = cell.images[record.name]
            image_rows.append(report.ImageRow(record.name, [f'{record.psnr:.2f}', f'{record.ssim:.4f}'] +
                                              extra(cell, record), images, size))
        title = (f'{cell.dataset} {level_label(task, cell.level)}: {len(cell.records)} image(s), ours '
                 f'{mean(cell.records, "psnr"):.2f} dB / {mean(cell.records, "ssim"):.4f}')
        sections.append(report.Section(title, columns, image_rows))
    write_results(args.out, text, (csv_header, csv_rows),
                  [(cell.dataset, level_label(task, cell.level), cell.records) for cell in cells],
                  f'RNAN paper reproduction: {task.title}', protocol,
                  [report.HtmlTable(f'{inference} {coverage}', header, rows)], sections, notes=[authors])
    elapsed = time.time() - start
    print(f'Wrote {osp.join(args.out, "table.md")}, table.csv, per_image.csv, report.html (+ report_files/) in '
          f'{elapsed:.1f} s.')
    return cells


def build_parser():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--task', required=True, help='dn_rgb, dn_gray, car, demosaic or sr')
    parser.add_argument('--weights', default='experiments/pretrained_models',
                        help='folder of the converted checkpoints, named as the test option files say '
                        '(default: experiments/pretrained_models)')
    parser.add_argument('--options', default=osp.join(REPO, 'options'),
                        help='folder of the test option files (default: the repository\'s options/)')
    parser.add_argument('--root', default='.',
                        help='folder the option files\' relative dataset paths start from (default: here)')
    parser.add_argument('--sets', nargs='+', help='only these test sets (default: all of the task)')
    parser.add_argument('--levels', nargs='+', help='only these levels, e.g. 10 30, sigma50, q10, x4 (default: all)')
    parser.add_argument('--also_chopped', action='store_true',
                        help='also restore with the authors\' forward_chop and report chopped - whole per cell')
    parser.add_argument('--chop_min_size', type=int, default=None,
                        help='forward_chop min_size in LQ pixels (default: the authors\' 10000, SR 30000)')
    parser.add_argument('--self_ensemble', action='store_true', help='RNAN+ (x8 flips and rotations, 8x the time)')
    parser.add_argument('--device', default='auto', help='auto (default), cpu, cuda or cuda:N')
    parser.add_argument('--out', default=None, help='output folder (default: results/reproduce_<task>)')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.out is None:
        args.out = osp.join('results', f'reproduce_{args.task}{"_plus" if args.self_ensemble else ""}')
    return run_main(PROG, run, args)
