"""The result files of ``scripts/evaluate.py`` and ``scripts/reproduce_paper.py``, from named per-image records.

Both write, into their ``--out`` folder, ``table.md`` (the protocol and the table), ``table.csv`` (one row per test
set and level), ``per_image.csv`` (one row per image: dataset, level, image, psnr, ssim, then any extra scores by
name) and ``report.html`` (:mod:`rnan_basicsr.tools.report`). What the tables say is each tool's business; how the
files are written is here, once.
"""
import csv
import io
import numpy as np
import os
from dataclasses import dataclass, field
from os import path as osp
from typing import Dict

from rnan_basicsr.tools import report
from rnan_basicsr.utils.image_io import write_text

TABLE_MD, TABLE_CSV, PER_IMAGE_CSV = 'table.md', 'table.csv', 'per_image.csv'
# decimals of a score in the CSV files, by the name its column ends with
CSV_DECIMALS = {'psnr': 4, 'ssim': 6}


@dataclass(frozen=True)
class ImageRecord:
    """The scores of one restored image against its ground truth.

    Attributes:
        name (str): the image's name without extension.
        psnr (float): PSNR in dB (BasicSR's calculate_psnr; inf for identical images).
        ssim (float): SSIM in [0, 1] (BasicSR's calculate_ssim).
        extra (dict[str, float]): further scores by column name, in column order, e.g. ``chopped_psnr``; the same
            names for every record of a run.
    """
    name: str
    psnr: float
    ssim: float
    extra: Dict[str, float] = field(default_factory=dict)

    def score(self, column):
        """The score named ``column``: ``'psnr'``, ``'ssim'`` or a key of :attr:`extra`."""
        return getattr(self, column) if column in ('psnr', 'ssim') else self.extra[column]


def mean(records, column):
    """The mean of the score ``column`` (see :meth:`ImageRecord.score`) over ``records``."""
    return float(np.mean([record.score(column) for record in records]))


def csv_score(column, value):
    """A score as the CSV files write it: 4 decimals for a ``*psnr`` column, 6 for a ``*ssim`` one."""
    decimals = next(d for suffix, d in CSV_DECIMALS.items() if column.endswith(suffix))
    return f'{value:.{decimals}f}'


def csv_text(rows, header):
    """CSV text (``\\n`` line ends) of ``header`` and ``rows`` (lists of cells)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def per_image_text(sets):
    """per_image.csv of ``sets``: ``(dataset, level label, records)`` per test set and level, in row order."""
    extra = list(dict.fromkeys(name for _, _, records in sets for record in records for name in record.extra))
    columns = ['psnr', 'ssim'] + extra
    rows = [[dataset, level, record.name] + [csv_score(c, record.score(c)) for c in columns]
            for dataset, level, records in sets for record in records]
    return csv_text(rows, ['dataset', 'level', 'image'] + columns)


def write_results(out, table_text, summary, per_image, title, protocol, tables, sections, notes=()):
    """Write table.md, table.csv, per_image.csv and report.html into ``out``, each atomically (a temporary file in
    ``out``, then renamed: an interrupted run leaves the previous file or the new one, never half of one).

    Args:
        out (str): the output folder (created); the report's images must already be in ``out/report_files``.
        table_text (str): the whole of table.md.
        summary (tuple[list[str], list[list]]): header and rows of table.csv.
        per_image (list[tuple[str, str, list[ImageRecord]]]): (dataset, level label, records) per test set and level.
        title, protocol, tables, sections, notes: the report page (see :func:`rnan_basicsr.tools.report.render`).

    Returns:
        dict[str, str]: the path of each file, by name.
    """
    os.makedirs(out, exist_ok=True)
    paths = {name: osp.join(out, name) for name in (TABLE_MD, TABLE_CSV, PER_IMAGE_CSV)}
    write_text(paths[TABLE_MD], table_text)
    write_text(paths[TABLE_CSV], csv_text(summary[1], summary[0]))
    write_text(paths[PER_IMAGE_CSV], per_image_text(per_image))
    paths[report.REPORT] = report.write_report(out, title, protocol, tables, sections, notes)
    return paths
