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
import re
import time
from collections import namedtuple
from os import path as osp

import rnan_basicsr  # noqa: F401  (makes basicsr importable and registers RNAN)
from rnan_basicsr import paper_results
from rnan_basicsr.authors_protocol import protocol_note
from rnan_basicsr.chop import authors_min_size, chop_forward
from rnan_basicsr.options.schema import Options
from rnan_basicsr.precision import check_device
from rnan_basicsr.tasks import experiment_name, get_task, option_file_name
from rnan_basicsr.test_time import self_ensemble_forward
from rnan_basicsr.tools.evaluate import (EvalSet, Item, build_test_dataset, dataset_images, dataset_options,
                                         evaluate_set, is_data_path, markdown, protocol_text)
from rnan_basicsr.tools.results import HtmlTable, ImageStore, csv_score, mean, write_results
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.script_util import run_main
from rnan_basicsr.utils.validation import did_you_mean
from rnan_basicsr.weights.checkpoint import first_keys

PROG = 'reproduce_paper.py'
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
README_WEIGHTS = 'docs/experiments.md, "The authors\' checkpoints"'
README_DATA = 'docs/experiments.md, "Data layout"'

# what one level needs: its option file, the checkpoint, the datasets (option dicts, paths resolved), its scale
Run = namedtuple('Run', ['level', 'opt_path', 'opt', 'weights', 'datasets', 'scale'])


def level_label(task, level):
    """``sigma30``, ``q10``, ``x2``, or ``-`` (demosaicing has no level)."""
    return task.level.tag.format(level) if task.level is not None else '-'


def _parse_levels(task, values):
    if not values:
        return list(task.levels)
    if task.level is None:
        raise InputError(f'--levels: --task {task.key} ({task.title}) has no levels.')
    chosen, prefix = set(), re.escape(task.level.tag.format(''))
    for value in values:  # 10, sigma10, sigma=10 (q10, quality10, x4, scale=4...)
        number = re.fullmatch(rf'(?:{prefix}|{task.level.name}=?)?(\d+(?:\.\d*)?)', str(value))
        match = [level for level in task.levels if number and level == float(number[1])]
        if not match:
            raise InputError(f'--levels {value!r} is not a level of --task {task.key} in the paper; its levels: '
                             f'{", ".join(str(v) for v in task.levels)} ({task.level.meaning}).')
        chosen.add(match[0])
    return [level for level in task.levels if level in chosen]


def _parse_sets(task, values, names):
    """The test sets to run, in the order of ``names`` (the test sets of the option files: the paper's, or your own)."""
    for value in values or ():
        if value not in names:
            raise InputError(f'--sets {value!r} is not a test set of --task {task.key}.'
                             f'{did_you_mean(value, names)} Its test sets: {", ".join(names)}.')
    return [name for name in names if not values or name in values]


def plan_runs(args, task, levels):
    """The option file, checkpoint and datasets of every level, and the test sets run (the paper's first, then any
    others, or those of ``--sets``); an InputError naming everything that is missing."""
    from rnan_basicsr.options.loader import load_option_file

    opt_paths = [osp.join(args.options, option_file_name('test', task, level)) for level in levels]
    opts = [load_option_file(opt_path) for opt_path in opt_paths]
    names = list(dict.fromkeys(d['name'] for opt in opts for d in dataset_options(opt, args.root) if d.get('name')))
    sets = _parse_sets(task, args.sets, [n for n in task.test_sets if n in names] + [
        n for n in names if n not in task.test_sets])
    runs, missing_weights, missing_data = [], [], []
    for level, opt_path, opt in zip(levels, opt_paths, opts):
        pretrained = ((opt.get('path') or {}).get('pretrain_network_g')) or f'RNAN_{experiment_name(task, level)}.pth'
        weights = osp.join(args.weights, osp.basename(pretrained))
        if not osp.isfile(weights):
            missing_weights.append(weights)
        datasets = dataset_options(opt, args.root, sets)
        absent = [name for name in sets if name not in [d['name'] for d in datasets]]
        if absent:
            raise InputError(f'{opt_path!r} has no test dataset named {", ".join(absent)} (it has '
                             f'{", ".join(d.get("name", "?") for d in (opt.get("datasets") or {}).values())}).')
        missing_data += [v for d in datasets for k, v in d.items() if is_data_path(k, v) and not osp.exists(v)]
        runs.append(Run(level, opt_path, opt, weights, datasets, int(Options.model_construct(**opt).scale)))
    parts = []
    for what, paths, where in (('checkpoint', missing_weights, README_WEIGHTS),
                               ('test set folder', list(dict.fromkeys(missing_data)), README_DATA)):
        if paths:
            parts.append(f'{what}s missing: {first_keys(paths, 4)} (how to get them: {where})')
    if parts:
        raise InputError('; '.join(parts) + '.')
    return runs, sets


def build_rnan_model(run, device, self_ensemble):
    """RNANModel of the run's option file, as ``basicsr test`` builds it, with the checkpoint of ``--weights``."""
    from basicsr.models import build_model

    opt = copy.deepcopy(dict(run.opt, is_train=False, dist=False, rank=0, world_size=1,
                             num_gpu=int(device.type == 'cuda')))
    opt['path'] = dict(opt.get('path') or {}, pretrain_network_g=run.weights)
    opt['path'].setdefault('strict_load_g', True)
    opt['val'] = dict(opt.get('val') or {}, tile=None, self_ensemble=self_ensemble)
    model = build_model(opt)
    if model.device != device:  # cuda:N, mps
        model.device = device
        model.net_g.to(device)
    return model


def restored_set(model, run, dataset_opt, task, chop=None):
    """An EvalSet of one dataset of the run, restored by ``model`` (whole images), and with ``chop`` (a forward)
    also as the variant ``chopped``."""
    from basicsr.utils import tensor2img

    name, level = dataset_opt['name'], level_label(task, run.level)
    label = f'{name} {level}'
    dataset = build_test_dataset(dataset_opt, run.opt_path)

    def items():
        for img_name, data, gt, lq in dataset_images(dataset, name):
            model.feed_data({'lq': data['lq'][None], 'gt': data['gt'][None], 'lq_path': [data['lq_path']]})
            model.test()
            restored, variants = tensor2img(model.output), {}
            if chop is not None:
                model.test(chop)
                variants['chopped'] = tensor2img(model.output)
            yield Item(img_name, restored, gt, lq, f'{label} {img_name} (restored)', f'{label} {img_name}', variants)

    return EvalSet(name, level, run.scale, items, f'test set {name} of {run.opt_path!r}', len(dataset))


def paper_value(task, dataset, level, self_ensemble):
    """The paper's :class:`~rnan_basicsr.paper_results.Published` of a cell; a test set of your own is not in it."""
    try:
        return paper_results.published(task.key, dataset, level, self_ensemble)
    except KeyError:
        return paper_results.Published(None, None, None, 'RNAN+' if self_ensemble else 'RNAN',
                                       paper_results.NOT_IN_PAPER)


def result_table(task, results, papers, also_chopped, self_ensemble):
    """(header, rows) of the reproduction table: one row per test set and level, published | ours | Δ."""
    method = 'RNAN+' if self_ensemble else 'RNAN'
    header = ['Test set', task.level.name if task.level else 'level', f'paper {method} PSNR / SSIM',
              f'ours {method} PSNR / SSIM', 'Δ ours - paper']
    if also_chopped:
        header += ['ours, chopped PSNR / SSIM', 'chopped - whole']
    rows = []
    for result, paper in zip(results, papers):
        psnr, ssim = mean(result.records, 'psnr'), mean(result.records, 'ssim')
        row = [result.dataset, result.level, paper_results.describe(paper), f'{psnr:.2f} / {ssim:.4f}',
               paper_results.difference(psnr, ssim, paper)]
        if also_chopped:
            c_psnr, c_ssim = mean(result.records, 'chopped_psnr'), mean(result.records, 'chopped_ssim')
            row += [f'{c_psnr:.2f} / {c_ssim:.4f}', f'{c_psnr - psnr:+.2f} / {c_ssim - ssim:+.4f}']
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
    if args.chop_min_size is not None and args.chop_min_size < 1:
        raise InputError(f'--chop_min_size must be >= 1, got {args.chop_min_size}.')
    runs, sets = plan_runs(args, task, levels)
    device = check_device(args.device)
    start = time.time()
    print(f'Reproducing the paper\'s {task.title} table: {len(runs)} level(s) x {len(sets)} test set(s) on {device}'
          f'{" (+ the authors chop)" if args.also_chopped else ""}', flush=True)
    results = []
    with ImageStore() as store:
        for r in runs:
            print(f'{r.opt_path} with {r.weights}', flush=True)
            model, chop = build_rnan_model(r, device, args.self_ensemble), None
            if args.also_chopped:
                chop = functools.partial(chop_forward, scale=r.scale, min_size=args.chop_min_size)
                chop = functools.partial(self_ensemble_forward, forward=chop) if args.self_ensemble else chop
            results += [evaluate_set(restored_set(model, r, d, task, chop), task.key, store, verbose=True)
                        for d in r.datasets]
        store.publish(args.out)
    labels = {level_label(task, level): level for level in task.levels}
    results.sort(key=lambda result: (sets.index(result.dataset), list(labels).index(result.level)))
    papers = [paper_value(task, result.dataset, labels[result.level], args.self_ensemble) for result in results]

    protocol = protocol_text(task.key, [r.scale for r in results])
    inference = inference_text(task, args)
    authors = protocol_note(task.key)
    coverage = paper_results.coverage_text(task.key, args.self_ensemble)
    header, rows = result_table(task, results, papers, args.also_chopped, args.self_ensemble)
    table = markdown(header, rows)
    text = f'{protocol}\n{authors}\n{inference}\n{coverage}\n\n{table}\n'
    print('\n' + text)
    chopped = ['chopped_psnr', 'chopped_ssim'] if args.also_chopped else []
    cells = [['' if value is None else value for value in (paper.psnr, paper.ssim, paper.table)] + [paper.status]
             + [csv_score(c, mean(result.records, c)) for c in chopped] for result, paper in zip(results, papers)]
    columns = ['paper_psnr', 'paper_ssim', 'paper_table', 'paper_status'] + chopped
    write_results(args.out, task.key, text, results, columns, cells, f'RNAN paper reproduction: {task.title}', protocol,
                  HtmlTable(f'{inference} {coverage}', header, rows), 'ours', [authors])
    print(f'Wrote {osp.join(args.out, "table.md")}, table.csv, per_image.csv, report.html (+ report_files/) in '
          f'{time.time() - start:.1f} s.')
    return results


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
