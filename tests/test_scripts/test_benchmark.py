"""scripts/benchmark.py in its smallest form (16 x 16, forward only, one run): every variant is measured in its own
process, the JSON holds the measurements, and the printed table and goals are computed from them. The real run
(64-256 pixels, training step, tiling, switches, data; about 20 minutes) is for the README, not the test suite."""
import json
import os
import pytest
import re
import subprocess
import sys
import torch
from conftest import ROOT
from os import path as osp

from rnan_basicsr.tools import benchmark


def test_benchmark_measures_each_variant_in_a_fresh_process_and_reports_from_the_json(tmp_path):
    out_json = tmp_path / 'bench.json'
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'scripts', 'benchmark.py'), '--sizes', '16', '--configs',
                           'grey', '--no-train', '--no-tiling', '--no-precision', '--no-data', '--repeats', '1',
                           '--json', str(out_json)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out_json.read_text())
    results = {m['spec']['variant']: m['result'] for m in data['measurements']}
    assert sorted(results) == ['direct', 'floor', 'ours']
    for result in results.values():
        assert result['time_s'] > 0 and result['peak_mb'] > 100  # a fresh process with torch loaded
    row = next(line for line in proc.stdout.splitlines() if line.startswith('| grey | 16² |'))
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[2:5] == [f'{results[v]["time_s"]:.2f}' for v in ('floor', 'ours', 'direct')]
    assert cells[5] == f'{results["direct"]["time_s"] / results["ours"]["time_s"]:.2f}×'
    assert cells[10] == f'{results["ours"]["peak_mb"] / results["floor"]["peak_mb"]:.2f}'
    assert re.search(r'peak memory ours / floor: at most [\d.]+ over all sizes \(goal ≤ 1.25 (met|missed)\)',
                     proc.stdout)
    assert data['report'] in proc.stdout


def test_goals_say_met_or_missed_from_the_figures():
    def forward(config, size, floor, ours, direct, floor_mb=1000, ours_mb=1100):
        return dict(config=config, size=size, floor=dict(time_s=floor, peak_mb=floor_mb),
                    ours=dict(time_s=ours, peak_mb=ours_mb), direct=dict(time_s=direct, peak_mb=3000))

    rows = [forward('grey', 128, 2.0, 4.0, 9.0), forward('colour', 128, 2.0, 4.0, 7.0),
            forward('grey', 256, 9.0, 63.0, None, ours_mb=1600)]
    train = dict(ours=dict(time_s=16.0), direct=dict(time_s=15.0))
    text = benchmark.goals(rows, train)
    assert 'grey 128²: ours is 2.25× faster than direct: goal ≥ 2 met, stretch 3 missed' in text
    assert 'colour 128²: ours is 1.75× faster than direct: goal ≥ 2 missed' in text
    assert '7.00× the conv-only floor (goal ≤ 6 missed) and 1.56 GB (goal < 1.5 GB missed)' in text
    assert 'at most 1.60 over all sizes (goal ≤ 1.25 missed)' in text
    assert 'at most 1.10 over all sizes (goal ≤ 1.25 met)' in benchmark.goals(rows[:2], {})
    assert 'ours 16.00 s vs direct 15.00 s (goal: no slower missed)' in text


def in_process(spec, log, timeout=None):
    """benchmark.measure without the fresh process (the test above covers that)."""
    kinds = {'forward': benchmark.measure_forward, 'train_quality_net': benchmark.train_quality_net}
    with torch.inference_mode(False), torch.set_grad_enabled(spec['kind'] == 'train_quality_net'):
        result = kinds[spec['kind']](spec, torch.device('cpu'))
    log.append(dict(spec=spec, result=result))
    return result


def test_switch_rows_report_speed_and_quality_against_float32(tmp_path, monkeypatch):
    """The precision rows in miniature (16 x 16, a quality network trained for 2 steps, no compile): each setting
    has its speed-up and its PSNR against the float32 row, on the trained network and on the official one."""
    monkeypatch.setattr(benchmark, 'measure', in_process)
    workdir, log = tmp_path / 'work', []
    workdir.mkdir()
    settings = [{}, {'amp': 'bf16', 'channels_last': True}]
    base = dict(device='cpu', repeats=1, tf32=False)
    trained, forward_rows, train_rows = benchmark.measure_precision(base, settings, str(workdir), log, False, 16, 2)
    assert trained['steps'] == 2 and not train_rows
    assert [benchmark.setting_label(s) for s, _ in forward_rows] == ['float32', 'bf16 + channels_last']
    assert forward_rows[0][1]['psnr_trained_db'] == float('inf')
    for _, result in forward_rows[1:]:
        assert 40 <= result['psnr_trained_db'] < float('inf') and result['psnr_official_db'] >= 40
    text = '\n'.join(benchmark.render_switches(trained, forward_rows, train_rows, None))
    assert '| float32 | ' in text and '| bf16 + channels_last | ' in text
    goals = benchmark.goals([], {}, (trained, forward_rows, train_rows))
    assert re.search(r'- bf16 \+ channels_last: output [\d.]+ dB from float32 on the trained network \(goal ≥ 40 '
                     r'met\)', goals)


def test_compiled_rows_report_their_first_call_apart_from_the_timed_calls():
    trained = dict(size=16, steps=2, time_s=1.0, psnr_noisy_db=18.0, psnr_restored_db=25.0)
    eager = dict(time_s=4.0, compiled=False, first_call_s=None, psnr_trained_db=float('inf'))
    compiled = dict(time_s=3.0, compiled=True, first_call_s=72.25, psnr_trained_db=80.0)
    fallen_back = dict(time_s=4.1, compiled=False, first_call_s=None, psnr_trained_db=90.0)
    forward_rows = [({}, eager), ({'compile': True}, compiled), ({'amp': 'bf16', 'compile': True}, fallen_back)]
    train_rows = [({}, dict(eager, time_s=10.0)), ({'compile': True}, dict(compiled, time_s=9.0, first_call_s=300.5))]
    text = '\n'.join(benchmark.render_switches(trained, forward_rows, train_rows, None))
    assert '| float32 + compile | 3.00 | 1.33× |' in text
    assert ('First call of the compiled rows (compilation included, not in the times above): forward float32 + '
            'compile 72.25 s; training step float32 + compile 300.50 s.') in text
    assert 'torch.compile could not run for bf16 + compile: those rows ran eagerly.' in text


def test_data_goals_compare_each_dataset_with_paired_image_dataset_of_its_task():
    rates = {'DenoisingDataset': 90., 'PairedImageDataset (denoise)': 100., 'JPEGArtifactDataset': 80.,
             'PairedImageDataset (jpeg)': 100.}
    text = benchmark.goals([], {}, data_result=dict(samples_per_s=rates))
    assert "DenoisingDataset: 0.90× PairedImageDataset's samples/s (goal ≥ 0.9 met)" in text
    assert "JPEGArtifactDataset: 0.80× PairedImageDataset's samples/s (goal ≥ 0.9 missed)" in text
    table = '\n'.join(benchmark.render_data(dict(samples_per_s=rates)))
    assert '| jpeg | JPEGArtifactDataset | 80 | 100 | 0.80 |' in table


def test_switches_choose_the_rows_and_bad_words_are_refused(capsys):
    import argparse

    parser = argparse.ArgumentParser(prog='benchmark.py')
    both = benchmark.parse_switches('bf16+channels_last+compile', parser)
    assert both == dict(amp='bf16', channels_last=True, compile=True)
    assert benchmark.parse_switches('float32', parser) == {}
    for text, said in (('bf17', "unknown switch 'bf17'"), ('bf16+fp16', 'names two precisions')):
        with pytest.raises(SystemExit) as stop:
            benchmark.parse_switches(text, parser)
        assert stop.value.code == 2 and said in capsys.readouterr().err


def test_an_interrupted_run_leaves_no_intermediate_file(tmp_path, monkeypatch):
    """Intermediate outputs (the exact 256² output for the tiling rows, the switch rows' files) live in one
    temporary folder, removed however the run ends; nothing is written beside the user's files."""
    import tempfile

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path / 'tmp'))
    (tmp_path / 'tmp').mkdir()
    seen = []

    def interrupted(spec, log, timeout=None):  # Ctrl-C while the exact output is being measured
        seen.append(spec)
        if not spec.get('save_output'):
            return dict(time_s=1.0, peak_mb=1.0)
        assert spec['save_output'].startswith(str(tmp_path / 'tmp'))
        open(spec['save_output'], 'wb').close()
        raise KeyboardInterrupt

    monkeypatch.setattr(benchmark, 'measure', interrupted)
    with pytest.raises(KeyboardInterrupt):
        benchmark.main(['--sizes', '256', '--configs', 'grey', '--device', 'cpu', '--no-train', '--no-precision',
                        '--no-data'])
    assert [s['variant'] for s in seen] == ['floor', 'ours']
    assert os.listdir(tmp_path / 'tmp') == [] and sorted(os.listdir(tmp_path)) == ['tmp']
