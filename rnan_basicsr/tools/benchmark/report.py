"""The Markdown tables of a benchmark run, computed from the measurements only."""
from rnan_basicsr.tools.benchmark.fixtures import DATA_GT_SIZE, DATA_SUB_IMAGE, DATA_TASKS, QUALITY_NET, QUALITY_SIGMA
from rnan_basicsr.tools.benchmark.spec import SWITCH_TRAIN_BATCH, TRAIN_BATCH, TRAIN_PATCH, VARIANTS


def fmt(value, digits=2):
    return '—' if value is None else f'{value:.{digits}f}'


def fmt_db(value):
    return '∞' if value == float('inf') else fmt(value)


def fmt_times(value):
    """A ratio as ``2.18×``, or ``—`` when one side was not measured."""
    return '—' if value is None else f'{value:.2f}×'


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def get(cell, key='time_s'):
    """``cell[key]``, or None for a cell not measured, skipped or failed."""
    return None if not cell or 'error' in cell or 'skipped' in cell else cell.get(key)


def fmt_time(cell):
    """A time cell: the median of the timed runs and, after ``±``, half their interquartile range."""
    median, iqr = get(cell), get(cell, 'iqr_s')
    return fmt(median) if median is None or iqr is None else f'{median:.2f} ±{iqr / 2:.2f}'


def mb(cell):
    return fmt(get(cell, 'peak_mb'), 0)


def table(header, rows):
    """A Markdown table of cells: the header, its rule, the rows."""
    lines = ['| ' + ' | '.join(cells) + ' |' for cells in [header, *rows]]
    return lines[:1] + ['|' + '---|' * len(header)] + lines[1:]


def render(header, seconds, rows=(), train=None, tiling=(), switch_rows=None, data_result=None, device=None):
    """The whole report: the forward, training-step and tiling tables, the switch rows (``switch_rows``: the
    arguments of :func:`render_switches`) and the data pipeline."""
    memory = 'CUDA peak allocation' if device is not None and device.type == 'cuda' else 'peak RSS of the process'
    timing = f'time: median of the timed runs ±half their interquartile range; memory: {memory} during the timed runs'
    out = [f'_{header}; measured in {seconds / 60:.1f} min._']
    if rows:
        cells = []
        for row in rows:
            f, o, d = (row.get(v) for v in VARIANTS)
            direct_time = fmt_time(d) if 'skipped' not in (d or {}) else f'skipped ({d["skipped"]})'
            cells.append([row['config'], f'{row["size"]}²', fmt_time(f), fmt_time(o), direct_time,
                          fmt_times(ratio(get(d), get(o))), fmt(ratio(get(o), get(f))), mb(f), mb(o), mb(d),
                          fmt(ratio(get(o, 'peak_mb'), get(f, 'peak_mb')))])
        out += ['', f'**Forward pass, one image, no gradient** ({timing})', ''] + table(
            ['config', 'size', 'floor s', 'ours s', 'direct s', 'speed-up (direct / ours)', 'ours / floor (time)',
             'floor MB', 'ours MB', 'direct MB', 'ours / floor (memory)'], cells)
    if train:
        f, o, d = (train.get(v) for v in VARIANTS)
        out += ['', f'**Training step** (RNANModel.optimize_parameters; grey, batch {TRAIN_BATCH}, '
                f'{TRAIN_PATCH}×{TRAIN_PATCH}, L2 + Adam; {timing})', ''] + table(
            ['floor s', 'ours s', 'direct s', 'speed-up (direct / ours)', 'floor MB', 'ours MB', 'direct MB'],
            [[fmt_time(f), fmt_time(o), fmt_time(d), fmt_times(ratio(get(d), get(o))), mb(f), mb(o), mb(d)]])
    if tiling:
        whole = {row['config']: row.get('ours') for row in rows if row['size'] == 256}
        cells = []
        for config in dict.fromkeys(c for c, _, _ in tiling):
            cells.append([config, 'whole', fmt_time(whole.get(config)), mb(whole.get(config)), '0', '∞'])
            cells += [[config, str(tile), fmt_time(result), mb(result), fmt(get(result, 'max_abs_diff_255')),
                       fmt_db(get(result, 'psnr_vs_whole_db'))] for c, tile, result in tiling if c == config]
        out += ['', '**Whole image vs tiled inference** (256², overlap 16; distance to the exact whole-image output)',
                ''] + table(['config', 'tile', 's', 'MB', 'max abs diff (0-255)', 'PSNR vs whole (dB)'], cells)
    out += render_switches(*switch_rows) if switch_rows else []
    out += render_data(data_result)
    return '\n'.join(out)


def render_switches(size, trained, forward_rows, train_rows):
    """The precision / speed table: one row per setting, forward and training step, quality against float32. Without
    a quality network (``trained`` None: ``--no_train``), the forward columns only."""
    step_words = f'training step: batch {SWITCH_TRAIN_BATCH}, {TRAIN_PATCH}×{TRAIN_PATCH}; ' if trained else ''
    out = ['', f'**Precision and speed switches** (grey {size}², official network, ours; {step_words}quality '
           'against the float32 row)', '']
    if trained is None:
        out.append('Nothing trained (--no_train): the PSNR on a trained network and the training-step columns are '
                   'not measured; the quality column is the PSNR against float32 on the official network with random '
                   'weights.')
    elif 'error' in trained:
        return out + [f'Quality network failed to train: {trained["error"]}']
    else:
        out.append(f'Quality network: RNAN {QUALITY_NET["num_feat"]} features, {QUALITY_NET["num_group"]} groups, '
                   f'trained here for {trained["steps"]} steps ({fmt(trained["time_s"], 0)} s) on colour denoising '
                   f'(σ {QUALITY_SIGMA}); on its held-out {trained["size"]}² image: noisy '
                   f'{fmt(trained["psnr_noisy_db"])} dB, restored {fmt(trained["psnr_restored_db"])} dB (float32).')
    header = ['setting', 'forward s', 'speed-up', 'PSNR vs float32, trained net (dB)', 'PSNR vs float32, official '
              'random weights (dB)', 'train step s', 'speed-up', 'step output PSNR vs float32 (dB)',
              'gradient error vs float32']
    shown = range(len(header)) if trained else (0, 1, 2, 4)
    steps = {switches.label: result for switches, result in train_rows}
    base_forward = get(forward_rows[0][1]) if forward_rows else None
    base_step = get(steps.get(forward_rows[0][0].label)) if forward_rows else None
    cells = []
    for switches, result in forward_rows:
        step = steps.get(switches.label)
        row = [switches.label, fmt_time(result), fmt_times(ratio(base_forward, get(result))),
               fmt_db(get(result, 'psnr_trained_db')), fmt_db(get(result, 'psnr_official_db')), fmt_time(step),
               fmt_times(ratio(base_step, get(step))), fmt_db(get(step, 'psnr_trained_db')),
               fmt(get(step, 'grad_rel_error'), 4)]
        cells.append([row[i] for i in shown])
    out += [''] + table([header[i] for i in shown], cells)
    both = (('forward', forward_rows), ('training step', train_rows))
    first_calls = [f'{kind} {s.label} {fmt(r["first_call_s"])} s' for kind, rows in both for s, r in rows
                   if 'error' not in r and r.get('compiled') and r.get('first_call_s') is not None]
    if first_calls:
        out.append('\nFirst call of the compiled rows (compilation included, not in the times above): '
                   + '; '.join(first_calls) + '.')
    errors = [f'{kind} {s.label}: {r["error"]}' for kind, rows in both for s, r in rows if 'error' in r]
    fell_back = {s.label for _, rows in both for s, r in rows if s.compile and get(r, 'compiled') is False}
    if fell_back:
        out.append(f'\ntorch.compile could not run for {", ".join(sorted(fell_back))}: those rows ran eagerly.')
    if errors:
        out.append('\nFailed: ' + '; '.join(errors))
    return out


def render_data(result):
    """Training samples/s of each dataset next to PairedImageDataset's on pre-made pairs of the same task."""
    if result is None:
        return []
    if 'error' in result:
        return ['', f'**Data pipeline**: failed: {result["error"]}']
    rates = result['samples_per_s']
    return ['', f'**Data pipeline** (training samples/s, one process, one thread, no workers; LMDBs of the same '
            f'{DATA_SUB_IMAGE}² sub-images; gt_size {DATA_GT_SIZE})', ''] + table(
        ['task', 'ours', 'samples/s', 'PairedImageDataset on pre-made pairs, samples/s', 'ours / paired'],
        [[task, ours, fmt(rates[ours], 0), fmt(rates[paired], 0), fmt(ratio(rates[ours], rates[paired]))]
         for task, ours, paired in data_pairs(rates)])


def data_pairs(rates):
    """(task, our dataset's name, the matching PairedImageDataset's name) for the measured tasks."""
    ours = {'denoise': ['DenoisingDataset'], 'jpeg': ['JPEGArtifactDataset', 'JPEGArtifactDataset (Y LMDB)'],
            'demosaic': ['DemosaicingDataset']}
    return [(task, name, f'PairedImageDataset ({task})') for task in DATA_TASKS for name in ours[task]
            if name in rates and f'PairedImageDataset ({task})' in rates]
