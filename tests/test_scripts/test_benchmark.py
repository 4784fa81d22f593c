"""scripts/benchmark.py in its smallest form (16 x 16, forward only): every variant is measured in its own process,
the JSON holds the measurements, and the printed table is computed from them. The real run (64-256 pixels, training
step, tiling, switches, data; about an hour on 2 cores) is for the docs, not the test suite; the parts are tested
here in this process with tiny networks."""
import dataclasses
import json
import numpy as np
import os
import psutil
import pytest
import subprocess
import sys
import time
import torch
from conftest import ROOT
from os import path as osp

from rnan_basicsr.models.rnan_model import RNANModel
from rnan_basicsr.tools.benchmark import cli, fixtures, measurements, report
from rnan_basicsr.tools.benchmark.cli import Runner
from rnan_basicsr.tools.benchmark.measurements import PeakMemory
from rnan_basicsr.tools.benchmark.spec import Measurement, Switches


@pytest.mark.slow
def test_benchmark_measures_each_variant_in_a_fresh_process_and_reports_from_the_json(tmp_path):
    out_json = tmp_path / 'bench.json'
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'scripts', 'benchmark.py'), '--sizes', '16', '--configs',
                           'grey', '--no_train', '--no_tiling', '--no_precision', '--no_data', '--repeats', '1',
                           '--json', str(out_json)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out_json.read_text())
    results = {m['spec']['variant']: m['result'] for m in data['measurements']}
    assert sorted(results) == ['direct', 'floor', 'ours']
    for result in results.values():
        assert result['time_s'] > 0 and result['peak_mb'] > 100  # a process with torch loaded
        assert result['runs'] >= 1 and result['time_s'] == pytest.approx(float(np.median(result['times_s'])))
    row = next(line for line in proc.stdout.splitlines() if line.startswith('| grey | 16² |'))
    cells = [c.strip() for c in row.strip('|').split('|')]
    expected = [f'{results[v]["time_s"]:.2f} ±{results[v]["iqr_s"] / 2:.2f}' for v in ('floor', 'ours', 'direct')]
    assert cells[2:5] == expected
    assert cells[5] == f'{results["direct"]["time_s"] / results["ours"]["time_s"]:.2f}×'
    assert cells[10] == f'{results["ours"]["peak_mb"] / results["floor"]["peak_mb"]:.2f}'
    assert 'memory: peak RSS of the process during the timed runs' in proc.stdout
    assert 'Goals' not in proc.stdout  # the project's goals are in docs/benchmark.md, not in the user's report
    assert data['report'] in proc.stdout


def test_peak_memory_is_the_peak_of_the_block_not_of_the_process():
    before = np.ones(300 * 2**18, np.float64)  # 300 MiB, touched and freed before the block
    del before
    process = psutil.Process()
    with PeakMemory('cpu') as idle:
        time.sleep(0.05)
    with PeakMemory('cpu') as busy:
        start_mb = process.memory_info().rss / 2**20
        block = np.ones(200 * 2**17, np.float64)  # 200 MiB held for a moment inside the block
        time.sleep(0.05)
        del block
    assert busy.peak_mb >= start_mb + 190
    assert idle.peak_mb < start_mb + 50  # the 300 MiB freed before the block are not counted


def in_process(runner, spec):
    """Runner.measure without the fresh process (the first test covers that)."""
    try:
        result = measurements.run(spec)
    finally:
        torch.set_grad_enabled(True)
    runner.log.append(dict(spec=dataclasses.asdict(spec), result=result))
    return result


@pytest.mark.slow
def test_the_training_step_timed_is_rnan_model_optimize_parameters(monkeypatch):
    calls = []
    optimize_parameters = RNANModel.optimize_parameters

    def counted(self, current_iter):
        calls.append(self.train_channels_last)
        return optimize_parameters(self, current_iter)

    monkeypatch.setattr(RNANModel, 'optimize_parameters', counted)
    monkeypatch.setattr(fixtures, 'OFFICIAL_NET', dict(num_feat=8, num_group=2))
    spec = Measurement('train', batch=2, repeats=1, switches=Switches(channels_last=True))
    result = in_process(Runner(), spec)
    assert set(calls) == {True} and len(calls) >= 3  # a warm-up step, Timer's first block, at least one timed run
    assert result['runs'] == len(result['times_s']) >= 1 and result['iqr_s'] >= 0 and result['first_call_s'] is None


def test_switch_rows_report_speed_and_quality_against_float32(tmp_path, monkeypatch):
    """The precision rows in miniature (16 x 16, a quality network trained for 2 steps, tiny networks): each setting
    has its speed-up and its PSNR against the float32 row (BasicSR's calculate_psnr), forward and training step."""
    monkeypatch.setattr(Runner, 'measure', in_process)
    monkeypatch.setattr(fixtures, 'OFFICIAL_NET', dict(num_feat=8, num_group=2))
    monkeypatch.setattr(fixtures, 'QUALITY_NET', dict(fixtures.QUALITY_NET, num_feat=8, num_group=2))
    monkeypatch.setattr('rnan_basicsr.tools.benchmark.cli.SWITCH_TRAIN_BATCH', 1)  # a quicker training step
    settings = [Switches(), Switches(amp='bf16', channels_last=True)]
    base = Measurement('forward', repeats=1)
    trained, forward_rows, train_rows = Runner().measure_precision(base, settings, str(tmp_path), True, 16, 2)
    assert trained['steps'] == 2 and trained['psnr_noisy_db'] < 25
    assert [s.label for s, _ in forward_rows] == [s.label for s, _ in train_rows] == ['float32', 'bf16 + channels_last']
    assert forward_rows[0][1]['psnr_trained_db'] == train_rows[0][1]['psnr_trained_db'] == float('inf')
    assert train_rows[0][1]['grad_rel_error'] == 0
    for _, result in forward_rows[1:]:
        assert 30 <= result['psnr_trained_db'] < float('inf') and result['psnr_official_db'] >= 30
    assert 0 < train_rows[1][1]['grad_rel_error'] < 0.5
    text = '\n'.join(report.render_switches(16, trained, forward_rows, train_rows))
    assert '| float32 | ' in text and '| bf16 + channels_last | ' in text and 'gradient error vs float32' in text


def test_no_train_trains_nothing_and_says_which_columns_are_not_measured(tmp_path, monkeypatch):
    """--no_train: no training step anywhere (no quality network, no training-step rows); the switch rows have their
    speed and their PSNR on the official network, and the report says what is not measured."""
    def no_training(self, current_iter):
        raise AssertionError('--no_train ran a training step')

    monkeypatch.setattr(RNANModel, 'optimize_parameters', no_training)
    monkeypatch.setattr(Runner, 'measure', in_process)
    monkeypatch.setattr(fixtures, 'OFFICIAL_NET', dict(num_feat=8, num_group=2))
    out_json = tmp_path / 'bench.json'
    assert cli.main(['--sizes', '16', '--configs', 'grey', '--device', 'cpu', '--repeats', '1', '--no_train',
                     '--no_tiling', '--no_data', '--precision_size', '16', '--switches', 'channels_last', '--json',
                     str(out_json)]) == 0
    data = json.loads(out_json.read_text())
    assert {m['spec']['kind'] for m in data['measurements']} == {'forward'}  # 3 variants, 2 switch rows
    assert len(data['measurements']) == 5 and not any(m['spec']['weights'] for m in data['measurements'])
    assert 'Training step' not in data['report'] and 'Quality network:' not in data['report']
    assert 'Nothing trained (--no_train)' in data['report']
    assert '| setting | forward s | speed-up | PSNR vs float32, official random weights (dB) |' in data['report']
    row = next(line for line in data['report'].splitlines() if line.startswith('| float32 + channels_last |'))
    assert len(row.strip('|').split('|')) == 4 and float(row.split('|')[4]) >= 30


def test_psnr_is_basicsrs():
    a = np.zeros((1, 3, 4, 4), np.float32)
    assert measurements.psnr_db(a, a) == float('inf')
    assert measurements.psnr_db(a, a + 0.1) == pytest.approx(20.0)  # 10 log10(1 / 0.1²)
    assert measurements.psnr_db(a - 1, a + 0.1) == pytest.approx(20.0)  # clipped to [0, 1] first


def test_compiled_rows_report_their_first_call_apart_from_the_timed_calls():
    trained = dict(size=16, steps=2, time_s=1.0, psnr_noisy_db=18.0, psnr_restored_db=25.0)
    eager = dict(time_s=4.0, iqr_s=0.2, compiled=False, first_call_s=None, psnr_trained_db=float('inf'))
    compiled = dict(time_s=3.0, iqr_s=0.1, compiled=True, first_call_s=72.25, psnr_trained_db=80.0)
    fallen_back = dict(time_s=4.1, iqr_s=0.0, compiled=False, first_call_s=None, psnr_trained_db=90.0)
    forward_rows = [(Switches(), eager), (Switches(compile=True), compiled),
                    (Switches(amp='bf16', compile=True), fallen_back)]
    train_rows = [(Switches(), dict(eager, time_s=10.0)),
                  (Switches(compile=True), dict(compiled, time_s=9.0, first_call_s=300.5))]
    text = '\n'.join(report.render_switches(16, trained, forward_rows, train_rows))
    assert '| float32 + compile | 3.00 ±0.05 | 1.33× |' in text
    assert ('First call of the compiled rows (compilation included, not in the times above): forward float32 + '
            'compile 72.25 s; training step float32 + compile 300.50 s.') in text
    assert 'torch.compile could not run for bf16 + compile: those rows ran eagerly.' in text


def test_data_table_compares_each_dataset_with_paired_image_dataset_of_its_task():
    rates = {'DenoisingDataset': 90., 'PairedImageDataset (denoise)': 100., 'JPEGArtifactDataset': 80.,
             'PairedImageDataset (jpeg)': 100.}
    table = '\n'.join(report.render_data(dict(samples_per_s=rates)))
    assert '| jpeg | JPEGArtifactDataset | 80 | 100 | 0.80 |' in table
    assert '| denoise | DenoisingDataset | 90 | 100 | 0.90 |' in table


def test_switches_choose_the_rows_and_bad_words_are_refused(capsys):
    assert Switches.parse('bf16+channels_last+compile') == Switches(amp='bf16', channels_last=True, compile=True)
    assert Switches.parse('float32') == Switches()
    args = cli.build_parser().parse_args(['--switches', 'channels_last', 'float32', 'channels_last', '--tf32'])
    labels = [s.label for s in cli.switch_settings(args, torch.device('cpu'))]
    assert labels == ['float32 + TF32', 'float32 + channels_last + TF32']
    for text, said in (('bf17', "unknown switch 'bf17'"), ('bf16+fp16', 'names two precisions')):
        with pytest.raises(SystemExit) as stop:
            cli.build_parser().parse_args(['--switches', text])
        assert stop.value.code == 2 and said in capsys.readouterr().err


def test_an_interrupted_run_leaves_no_intermediate_file(tmp_path, monkeypatch):
    """Intermediate outputs (the exact 256² output for the tiling rows, the switch rows' files) live in one
    temporary folder, removed however the run ends; nothing is written beside the user's files."""
    import tempfile

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path / 'tmp'))
    (tmp_path / 'tmp').mkdir()
    seen = []

    def interrupted(runner, spec):  # Ctrl-C while the exact output is being measured
        seen.append(spec)
        if not spec.save_output:
            return dict(time_s=1.0, peak_mb=1.0)
        assert spec.save_output.startswith(str(tmp_path / 'tmp'))
        open(spec.save_output, 'wb').close()
        raise KeyboardInterrupt

    monkeypatch.setattr(Runner, 'measure', interrupted)
    with pytest.raises(KeyboardInterrupt):
        cli.main(['--sizes', '256', '--configs', 'grey', '--device', 'cpu', '--no_train', '--no_precision',
                  '--no_data'])
    assert [s.variant for s in seen] == ['floor', 'ours']
    assert os.listdir(tmp_path / 'tmp') == [] and sorted(os.listdir(tmp_path)) == ['tmp']


def test_help_prints_no_warning():
    """``--help`` (and the parent process) imports no module that logs torch's CUDA_HOME warning on a CPU machine."""
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'scripts', 'benchmark.py'), '--help'], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == '', proc.stderr
