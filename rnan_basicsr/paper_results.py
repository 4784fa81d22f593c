"""The RNAN numbers published in the paper (arXiv 1903.10082, ICLR 2019, Tables 2-6), as data, one cell per task, test
set and level of :mod:`rnan_basicsr.tasks`.

Every cell of every task's test sets and levels is listed below explicitly. A cell holds ``(psnr, ssim)`` as printed
in the paper, or ``None``: **not found**, i.e. the number could not be read from the paper's text when this file was
written. Nothing here is a guess or a number remembered from elsewhere; a ``None`` stays ``None`` until someone
reads the number in the paper and writes it in (with the table it comes from in :data:`TABLES`).

Where the numbers were looked for (November 2026), and why every cell is still empty: the stored copies of the
paper's text available to this project (the LaTeX source ``1903.10082v1.txt`` of the SPIQA dataset, raw TeX and
extracted paragraphs; https://www.arxiv-vanity.com/papers/1903.10082/; emergentmind, zhuanzhi and mofii-notes pages
about the paper) could only be read from their beginning (title, abstract, introduction); the experiment tables were
not reachable. The authors' repository (github.com/yulunzhang/RNAN) shows its results as pictures
(``Figs/PSNR_*.PNG``), not as text. The project's test for this file checks that every cell exists and that a value,
once filled in, is a plausible PSNR / SSIM pair with a table number.

Test set names are those of the option files (``CBSD68`` for colour denoising, where the paper writes BSD68).
``RNAN+`` (x8 self-ensemble) values go to :data:`PLUS` in the same layout, for the tables that report RNAN+; which
tables do could not be checked either, so it is empty and every RNAN+ cell reads "not found".
"""
from collections import namedtuple

from rnan_basicsr.tasks import TASKS

Published = namedtuple('Published', ['psnr', 'ssim', 'table', 'method'])
Table = namedtuple('Table', ['number', 'caption'])

NOT_FOUND = 'not found'

#: per task: the paper's table (number None: not read from the paper's text; Tables 2-6 hold these five tasks)
TABLES = {
    'dn_rgb': Table(None, 'colour image denoising (AWGN), PSNR (dB) / SSIM'),
    'dn_gray': Table(None, 'grey image denoising (AWGN), PSNR (dB) / SSIM'),
    'demosaic': Table(None, 'image demosaicing, PSNR (dB) / SSIM'),
    'car': Table(None, 'JPEG compression artifact reduction (Y channel), PSNR (dB) / SSIM'),
    'sr': Table(None, 'bicubic (BI) super-resolution, PSNR (dB) / SSIM on Y'),
}

_ = None  # not found in the paper's text

#: RNAN (no self-ensemble): ``RESULTS[task][test set][level] = (psnr, ssim)`` or None (not found)
RESULTS = {
    'dn_rgb': {
        'Kodak24': {10: _, 30: _, 50: _, 70: _},
        'CBSD68': {10: _, 30: _, 50: _, 70: _},
        'Urban100': {10: _, 30: _, 50: _, 70: _},
    },
    'dn_gray': {
        'Kodak24': {10: _, 30: _, 50: _, 70: _},
        'BSD68': {10: _, 30: _, 50: _, 70: _},
        'Urban100': {10: _, 30: _, 50: _, 70: _},
    },
    'car': {
        'LIVE1': {10: _, 20: _, 30: _, 40: _},
        'Classic5': {10: _, 20: _, 30: _, 40: _},
    },
    'demosaic': {
        'McMaster': {None: _},
        'Kodak24': {None: _},
        'CBSD68': {None: _},
        'Urban100': {None: _},
    },
    'sr': {
        'Set5': {2: _, 3: _, 4: _},
        'Set14': {2: _, 3: _, 4: _},
        'B100': {2: _, 3: _, 4: _},
        'Urban100': {2: _, 3: _, 4: _},
        'Manga109': {2: _, 3: _, 4: _},
    },
}

#: RNAN+ (x8 self-ensemble), same layout; only tasks whose table gives RNAN+ (none could be checked yet)
PLUS = {}


def published(task, dataset, level, self_ensemble=False):
    """The paper's :class:`Published` value of one cell; ``psnr`` / ``ssim`` None when not found.

    Raises:
        KeyError: the cell is not one of the paper's (``task``, ``dataset``, ``level``).
    """
    table = PLUS if self_ensemble else RESULTS
    method = 'RNAN+' if self_ensemble else 'RNAN'
    if task not in RESULTS or dataset not in RESULTS[task] or level not in RESULTS[task][dataset]:
        raise KeyError(f'({task!r}, {dataset!r}, {level!r}) is not a cell of the paper\'s tables')
    value = ((table.get(task) or {}).get(dataset) or {}).get(level)
    psnr, ssim = value if value is not None else (None, None)
    return Published(psnr, ssim, TABLES[task].number, method)


def cells(task):
    """``[(dataset, level)]`` of ``task`` in the order of the option files (test sets, then levels)."""
    spec = TASKS[task]
    return [(dataset, level) for dataset in spec.test_sets for level in spec.levels]


def describe(value):
    """``'<psnr> / <ssim> (Table <n>)'`` (2 and 4 decimals) of a :class:`Published`, or ``'not found'``."""
    if value.psnr is None:
        return NOT_FOUND
    table = f' (Table {value.table})' if value.table is not None else ''
    return f'{value.psnr:.2f} / {value.ssim:.4f}{table}'


def coverage_text(task):
    """One line: how many of ``task``'s cells have a published value."""
    found = sum(published(task, d, level).psnr is not None for d, level in cells(task))
    total = len(cells(task))
    return f'paper values: {found} of {total} cells found in the paper\'s text ({total - found} not found)'
