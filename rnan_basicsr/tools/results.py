"""The result files of ``scripts/evaluate.py`` and ``scripts/reproduce_paper.py`` in their ``--out`` folder, from
named per-image records: ``table.md``, ``table.csv``, ``per_image.csv`` and ``report.html`` (the tables, then per test
set one row per image with its figures and an LQ | output | GT slider with zoom; inline CSS and JavaScript, images in
``report_files/`` linked relatively: docs/evaluation.md). What the tables say is each tool's business.
"""
import csv
import html
import io
import numpy as np
import os
import shutil
import tempfile
from collections import namedtuple
from dataclasses import dataclass, field
from os import path as osp
from typing import Dict

from rnan_basicsr.utils.image_io import write_image, write_text

TABLE_MD, TABLE_CSV, PER_IMAGE_CSV, REPORT = 'table.md', 'table.csv', 'per_image.csv', 'report.html'
FILES = 'report_files'
# decimals of a score in the CSV files, by the name its column ends with
CSV_DECIMALS = {'psnr': 4, 'ssim': 6}
KINDS = ('lq', 'output', 'gt')
LABELS = {'lq': 'LQ', 'output': 'output', 'gt': 'GT'}
ZOOMS = (1, 2, 4, 8)

# one table of the report: a caption, the header cells and rows of cells (text)
HtmlTable = namedtuple('HtmlTable', ['caption', 'header', 'rows'])
# one image row: its name, figures (text cells matching the section's columns), {kind: relative path}, (width, height)
ImageRow = namedtuple('ImageRow', ['name', 'cells', 'images', 'size'])
# one evaluated set: ``records``, an ImageRecord per image; ``sample``: one image (dict) for the strip; ``images``:
# {name: ({kind: path relative to --out}, (width, height))}
SetResult = namedtuple('SetResult', ['dataset', 'level', 'scale', 'records', 'sample', 'images'])
# one section of the report: a test set at one level
Section = namedtuple('Section', ['title', 'columns', 'rows'])


@dataclass(frozen=True)
class ImageRecord:
    """The scores of one restored image against its ground truth: PSNR in dB (inf for identical images), SSIM, and
    ``extra`` scores by column name (e.g. ``chopped_psnr``), the same names for every record of a run."""
    name: str
    psnr: float
    ssim: float
    extra: Dict[str, float] = field(default_factory=dict)

    def score(self, column):
        """The score named ``column``: ``'psnr'``, ``'ssim'`` or a key of :attr:`extra`."""
        return getattr(self, column) if column in ('psnr', 'ssim') else self.extra[column]


def mean(records, column):
    return float(np.mean([record.score(column) for record in records]))


def csv_score(column, value):
    """A score as the CSV files write it: 4 decimals for a ``*psnr`` column, 6 for a ``*ssim`` one."""
    decimals = next(d for suffix, d in CSV_DECIMALS.items() if column.endswith(suffix))
    return f'{value:.{decimals}f}'


def csv_text(rows, header):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def per_image_text(results):
    """per_image.csv of ``results`` (SetResults, in row order): dataset, level, image, psnr, ssim, the extra scores."""
    extra = list(dict.fromkeys(name for r in results for record in r.records for name in record.extra))
    columns = ['psnr', 'ssim'] + extra
    rows = [[r.dataset, r.level, record.name] + [csv_score(c, record.score(c)) for c in columns]
            for r in results for record in r.records]
    return csv_text(rows, ['dataset', 'level', 'image'] + columns)


def _safe(text):
    return ''.join(c if c.isalnum() or c in '-_.' else '_' for c in str(text)) or '_'


class ImageStore:
    """A context manager collecting the report's images in a temporary folder
    (``report_files/<section>/<name>_<kind>.png``) until :meth:`publish` moves them beside the report, so a run that
    fails half-way leaves no partial output; the temporary folder is removed on exit."""

    def __enter__(self):
        self.root = tempfile.mkdtemp(prefix='rnan_report_')
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.root, ignore_errors=True)

    def save(self, section, name, kind, img):
        """Write ``img`` (uint8/uint16 BGR or grey); returns its path relative to the report (forward slashes)."""
        relative = '/'.join((FILES, _safe(section), f'{_safe(name)}_{kind}.png'))
        write_image(osp.join(self.root, *relative.split('/')), img)
        return relative

    def publish(self, out):
        """Move the images to ``<out>/report_files/`` (replacing an older one)."""
        target = osp.join(out, FILES)
        if osp.isdir(target):
            shutil.rmtree(target)
        os.makedirs(out, exist_ok=True)
        if osp.isdir(osp.join(self.root, FILES)):
            shutil.move(osp.join(self.root, FILES), target)


_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1400px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
p.protocol { background: #f4f4f4; padding: .6em .8em; font-size: .9em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
caption { text-align: left; font-size: .9em; padding-bottom: .3em; }
td.compare { text-align: left; }
.cmp .view { display: inline-block; overflow: auto; max-width: 820px; max-height: 560px; border: 1px solid #999;
  background: #888; vertical-align: top; }
.cmp .caption { font-size: .8em; color: #555; }
.cmp .stage { position: relative; line-height: 0; }
.cmp .stage img { position: absolute; left: 0; top: 0; width: 100%; height: 100%; image-rendering: pixelated; }
.cmp .stage img.left { position: static; }
.cmp .controls { font-size: .85em; margin-top: .3em; }
.cmp .controls button { font-size: .85em; padding: 0 .4em; }
.cmp .controls button.on { font-weight: 700; background: #cde; }
.cmp input[type=range] { width: 14em; vertical-align: middle; }
"""

_JS = """
document.querySelectorAll('.cmp').forEach(function (cmp) {
  var left = cmp.querySelector('img.left'), right = cmp.querySelector('img.right');
  var stage = cmp.querySelector('.stage'), split = cmp.querySelector('input.split');
  var labelLeft = cmp.querySelector('.caption .l'), labelRight = cmp.querySelector('.caption .r');
  var w = +stage.dataset.width, h = +stage.dataset.height;
  function show() { right.style.clipPath = 'inset(0 0 0 ' + split.value + '%)'; }
  function pick(side, kind, button) {
    var img = side === 'l' ? left : right, label = side === 'l' ? labelLeft : labelRight;
    img.src = cmp.dataset[kind]; label.textContent = button.textContent;
    cmp.querySelectorAll('button.' + side).forEach(function (b) { b.classList.toggle('on', b === button); });
  }
  cmp.querySelectorAll('button.l, button.r').forEach(function (b) {
    b.addEventListener('click', function () { pick(b.classList.contains('l') ? 'l' : 'r', b.dataset.kind, b); });
  });
  cmp.querySelectorAll('button.zoom').forEach(function (b) {
    b.addEventListener('click', function () {
      var z = +b.dataset.zoom;
      stage.style.width = (w * z) + 'px'; stage.style.height = (h * z) + 'px';
      cmp.querySelectorAll('button.zoom').forEach(function (o) { o.classList.toggle('on', o === b); });
    });
  });
  split.addEventListener('input', show); show();
  cmp.dataset.ready = 'yes';
});
"""


def _cells(cells, tag='td'):
    return ''.join(f'<{tag}>{html.escape(str(c))}</{tag}>' for c in cells)


def _table_html(table):
    caption = [f'<caption>{html.escape(table.caption)}</caption>'] if table.caption else []
    rows = [f'<tr>{_cells(table.header, "th")}</tr>'] + [f'<tr>{_cells(row)}</tr>' for row in table.rows]
    return '\n'.join(['<table>'] + caption + rows + ['</table>'])


def initial_zoom(width, height):
    """The first of 1, 2, 4, 8 that shows the image at least 256 pixels wide (small crops and test images), while it
    still fits in 800 x 800."""
    zoom = 1
    for candidate in ZOOMS:
        if max(width, height) * candidate > 800:
            break
        zoom = candidate
        if width * candidate >= 256:
            break
    return zoom


def _compare_html(row):
    """The comparison widget of one image: ``left`` under ``right``, the right one clipped by the slider."""
    images = row.images
    kinds = [k for k in KINDS if k in images]
    left = 'lq' if 'lq' in images else kinds[0]
    right = 'output' if 'output' in images else kinds[-1]
    width, height = row.size
    zoom = initial_zoom(width, height)
    data = ' '.join(f'data-{k}="{html.escape(images[k])}"' for k in kinds)
    parts = [f'<div class="cmp" {data}>',
             f'<div class="caption">left <span class="l">{LABELS[left]}</span> | right <span class="r">'
             f'{LABELS[right]}</span> ({width}x{height})</div>',
             f'<div class="view"><div class="stage" data-width="{width}" data-height="{height}" '
             f'style="width:{width * zoom}px;height:{height * zoom}px">',
             f'<img class="left" src="{html.escape(images[left])}" alt="{LABELS[left]}" width="{width}" '
             f'height="{height}">',
             f'<img class="right" src="{html.escape(images[right])}" alt="{LABELS[right]}" '
             'style="clip-path: inset(0 0 0 50%)">', '</div></div>', '<div class="controls">left: ']
    parts += [f'<button class="l{" on" if k == left else ""}" data-kind="{k}">{LABELS[k]}</button>' for k in kinds]
    parts.append(' <input class="split" type="range" min="0" max="100" value="50" title="slide"> right: ')
    parts += [f'<button class="r{" on" if k == right else ""}" data-kind="{k}">{LABELS[k]}</button>' for k in kinds]
    parts.append(' zoom: ')
    parts += [f'<button class="zoom{" on" if z == zoom else ""}" data-zoom="{z}">{z}x</button>' for z in ZOOMS]
    parts.append('</div></div>')
    return '\n'.join(parts)


def render(title, protocol, tables, sections, notes=()):
    """The report page as a string (see the module docstring)."""
    body = [f'<h1>{html.escape(title)}</h1>', f'<p class="protocol">{html.escape(protocol)}</p>']
    body += [f'<p class="note">{html.escape(note)}</p>' for note in notes]
    body += [_table_html(t) for t in tables]
    for index, section in enumerate(sections):
        body.append(f'<h2 id="set{index}">{html.escape(section.title)}</h2>')
        header = ['image'] + list(section.columns) + ['LQ | output | GT (slider: left | right; zoom)']
        body += ['<table class="images">', f'<tr>{_cells(header, "th")}</tr>']
        body += [f'<tr>{_cells([row.name] + list(row.cells))}<td class="compare">{_compare_html(row)}</td></tr>'
                 for row in section.rows]
        body.append('</table>')
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n' + '\n'.join(body) +
            f'\n<script>{_JS}</script>\n</body>\n</html>\n')


def report_sections(results, word='mean'):
    """One report section per evaluated set, one row per image: PSNR, SSIM and, per variant of the records'
    ``<variant>_psnr`` / ``_ssim`` scores, its PSNR, SSIM and ``<variant> - whole``; titles give the set's ``word``
    (mean, ours) PSNR / SSIM."""
    sections = []
    for r in results:
        variants = [key[:-len('_psnr')] for key in r.records[0].extra if key.endswith('_psnr')]
        rows = []
        for record in r.records:
            cells = [f'{record.psnr:.2f}', f'{record.ssim:.4f}']
            for variant in variants:
                psnr, ssim = record.extra[f'{variant}_psnr'], record.extra[f'{variant}_ssim']
                cells += [f'{psnr:.2f}', f'{ssim:.4f}', f'{psnr - record.psnr:+.2f}']
            rows.append(ImageRow(record.name, cells, *r.images[record.name]))
        title = f'{r.dataset} {r.level}'.strip() + f': {len(r.records)} image(s), {word} ' \
            f'{mean(r.records, "psnr"):.2f} dB / {mean(r.records, "ssim"):.4f}'
        columns = [f'{v} {c}' for v in variants for c in ('PSNR', 'SSIM', '- whole (dB)')]
        sections.append(Section(title, ['PSNR (dB)', 'SSIM'] + columns, rows))
    return sections


def write_results(out, task, table_text, results, columns, cells, title, protocol, table, word='mean', notes=()):
    """Write table.md, table.csv, per_image.csv and report.html of ``results`` (SetResults) into ``out`` (created; the
    report's images already in ``out/report_files``), each atomically (an interrupted run leaves the previous file or
    the new one); returns the path of each file, by name.

    table.csv has a row per result: task, dataset, level, images, psnr, ssim, then the tool's ``columns`` (``cells``:
    one list per result); the report shows ``table`` (an HtmlTable), then :func:`report_sections`.
    """
    os.makedirs(out, exist_ok=True)
    paths = {name: osp.join(out, name) for name in (TABLE_MD, TABLE_CSV, PER_IMAGE_CSV, REPORT)}
    rows = [[task, r.dataset, r.level, len(r.records)] + [csv_score(c, mean(r.records, c)) for c in ('psnr', 'ssim')]
            + extra for r, extra in zip(results, cells)]
    write_text(paths[TABLE_MD], table_text)
    write_text(paths[TABLE_CSV], csv_text(rows, ['task', 'dataset', 'level', 'images', 'psnr', 'ssim'] + columns))
    write_text(paths[PER_IMAGE_CSV], per_image_text(results))
    write_text(paths[REPORT], render(title, protocol, [table], report_sections(results, word), notes))
    return paths
