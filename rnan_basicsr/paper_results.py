"""The RNAN numbers published in the paper (ICLR 2019, arXiv 1903.10082, Tables 2-6) as data, one cell per task, test
set and level of :mod:`rnan_basicsr.tasks`: read from the authors' repository's ``Figs/PSNR_*.PNG`` and checked twice
(docs/paper.md, "The published numbers", names the images and what each state means).

A cell is ``(psnr, ssim)`` (``ssim`` None where the table gives PSNR only: "—"), :data:`NOT_IN_PAPER` (SR x3; RNAN+
outside Table 6) or None (not found). Test set names are the option files': ``CBSD68`` is the paper's colour "BSD68",
``McMaster`` its "McMaster18".
"""
from collections import namedtuple

from rnan_basicsr.tasks import TASKS

NOT_FOUND = 'not found'
NOT_IN_PAPER = 'not in the paper'
PUBLISHED = 'published'
ABSENT = '—'  # a metric the table does not give (SSIM of the denoising tables)

#: ``status`` is PUBLISHED (psnr set; ssim None when the table gives PSNR only), NOT_IN_PAPER or NOT_FOUND
Published = namedtuple('Published', ['psnr', 'ssim', 'table', 'method', 'status'], defaults=(PUBLISHED, ))

#: per task: the number of the paper's table
TABLES = {'dn_rgb': 2, 'dn_gray': 3, 'demosaic': 4, 'car': 5, 'sr': 6}

_x3 = NOT_IN_PAPER  # Table 6 has no x3 rows

#: RNAN (no self-ensemble): ``RESULTS[task][test set][level] = (psnr, ssim)``, NOT_IN_PAPER or None (not found)
RESULTS = {
    'dn_rgb': {  # Table 2, PSNR only
        'Kodak24': {10: (37.24, None), 30: (31.86, None), 50: (29.58, None), 70: (28.16, None)},
        'CBSD68': {10: (36.43, None), 30: (30.63, None), 50: (28.27, None), 70: (26.83, None)},
        'Urban100': {10: (36.59, None), 30: (31.50, None), 50: (29.08, None), 70: (27.45, None)},
    },
    'dn_gray': {  # Table 3, PSNR only
        'Kodak24': {10: (35.20, None), 30: (30.04, None), 50: (27.93, None), 70: (26.60, None)},
        'BSD68': {10: (34.04, None), 30: (28.61, None), 50: (26.48, None), 70: (25.18, None)},
        'Urban100': {10: (35.52, None), 30: (30.20, None), 50: (27.65, None), 70: (25.89, None)},
    },
    'car': {  # Table 5
        'LIVE1': {10: (29.63, 0.8239), 20: (32.03, 0.8877), 30: (33.45, 0.9149), 40: (34.47, 0.9299)},
        'Classic5': {10: (29.96, 0.8178), 20: (32.11, 0.8693), 30: (33.38, 0.8924), 40: (34.27, 0.9061)},
    },
    'demosaic': {  # Table 4
        'McMaster': {None: (39.71, 0.9725)},
        'Kodak24': {None: (43.09, 0.9902)},
        'CBSD68': {None: (42.50, 0.9929)},
        'Urban100': {None: (39.75, 0.9848)},
    },
    'sr': {  # Table 6, rows "RNAN (ours)"
        'Set5': {2: (38.17, 0.9611), 3: _x3, 4: (32.49, 0.8982)},
        'Set14': {2: (33.87, 0.9207), 3: _x3, 4: (28.83, 0.7878)},
        'B100': {2: (32.32, 0.9014), 3: _x3, 4: (27.72, 0.7421)},
        'Urban100': {2: (32.73, 0.9340), 3: _x3, 4: (26.61, 0.8023)},
        'Manga109': {2: (39.23, 0.9785), 3: _x3, 4: (31.09, 0.9149)},
    },
}

#: RNAN+ (x8 self-ensemble), same layout; Table 6 (rows "RNAN+ (ours)") is the only table that reports it
PLUS = {
    'sr': {
        'Set5': {2: (38.22, 0.9613), 3: _x3, 4: (32.56, 0.8992)},
        'Set14': {2: (33.97, 0.9216), 3: _x3, 4: (28.90, 0.7883)},
        'B100': {2: (32.36, 0.9018), 3: _x3, 4: (27.77, 0.7424)},
        'Urban100': {2: (32.90, 0.9351), 3: _x3, 4: (26.75, 0.8052)},
        'Manga109': {2: (39.41, 0.9789), 3: _x3, 4: (31.37, 0.9175)},
    },
}


def published(task, dataset, level, self_ensemble=False):
    """The paper's :class:`Published` value of one cell (RNAN+ of a table without it is NOT_IN_PAPER); a KeyError
    for a cell that is not one of the tasks'."""
    method = 'RNAN+' if self_ensemble else 'RNAN'
    if level not in RESULTS.get(task, {}).get(dataset, {}):
        raise KeyError(f'({task!r}, {dataset!r}, {level!r}) is not a cell of the paper\'s tables')
    value = (PLUS.get(task, {}) if self_ensemble else RESULTS[task]).get(dataset, {}).get(level, NOT_IN_PAPER)
    if value is None or value == NOT_IN_PAPER:
        return Published(None, None, TABLES[task], method, NOT_FOUND if value is None else NOT_IN_PAPER)
    return Published(value[0], value[1], TABLES[task], method, PUBLISHED)


def cells(task):
    """``[(dataset, level)]`` of ``task`` in the order of the option files (test sets, then levels)."""
    spec = TASKS[task]
    return [(dataset, level) for dataset in spec.test_sets for level in spec.levels]


def describe(value):
    """``'<psnr> / <ssim> (Table <n>)'`` (2 and 4 decimals; ssim "—" when the table gives PSNR only) of a
    :class:`Published`, or its state: ``'not in the paper'``, ``'not found'``."""
    if value.status == NOT_IN_PAPER:
        return NOT_IN_PAPER
    if value.psnr is None:
        return NOT_FOUND
    table = f' (Table {value.table})' if value.table is not None else ''
    ssim = ABSENT if value.ssim is None else f'{value.ssim:.4f}'
    return f'{value.psnr:.2f} / {ssim}{table}'


def difference(psnr, ssim, value):
    """``'<ours - paper PSNR> / <ours - paper SSIM>'`` (signed, 2 and 4 decimals; "—" for an absent SSIM), or
    ``'n/a (<state>)'`` when the paper has no value."""
    if value.psnr is None:
        return f'n/a ({describe(value)})'
    ssim_text = ABSENT if value.ssim is None else f'{ssim - value.ssim:+.4f}'
    return f'{psnr - value.psnr:+.2f} / {ssim_text}'


def coverage_text(task, self_ensemble=False):
    """One line: how many of ``task``'s cells the paper publishes, which table, and what the others are."""
    values = [published(task, d, level, self_ensemble) for d, level in cells(task)]
    method = 'RNAN+' if self_ensemble else 'RNAN'
    found = sum(v.status == PUBLISHED for v in values)
    text = f'paper values ({method}): {found} of {len(values)} cells published in Table {TABLES[task]}'
    if found and all(v.ssim is None for v in values if v.status == PUBLISHED):
        text += f' (PSNR only: the table gives no SSIM, shown as "{ABSENT}")'
    for state in (NOT_IN_PAPER, NOT_FOUND):
        count = sum(v.status == state for v in values)
        if count:
            text += f'; {count} {state}'
    if self_ensemble and task not in PLUS:
        text += ' (RNAN+ is reported in Table 6, super-resolution, only)'
    elif task == 'sr' and any(v.status == NOT_IN_PAPER for v in values):
        text += ' (Table 6 has x2 and x4 only)'
    return text
