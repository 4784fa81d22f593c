"""The real ``tensorboard`` command of this environment serves what a tiny ``basicsr train`` run logged: the loss,
the learning rate and the validation PSNR through its HTTP data API, and the validation image through the images
plugin. Also: exactly one TensorBoard distribution is installed (BasicSR's tb-nightly would break the server)."""
import json
import os
import pytest
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from conftest import TEST_OPTIONS, require_command, run_basicsr
from os import path as osp

from rnan_basicsr.utils.environment import FIX_TENSORBOARD, installed_tensorboards, tensorboard_problem

TENSORBOARD = osp.join(osp.dirname(sys.executable), 'tensorboard')


def test_exactly_one_tensorboard_distribution_is_installed():
    assert installed_tensorboards() == ['tensorboard'], f'fix the environment: {FIX_TENSORBOARD}'
    assert tensorboard_problem() is None


def test_two_tensorboard_distributions_give_one_line_with_the_fix(monkeypatch, capsys):
    from rnan_basicsr.utils import environment
    monkeypatch.setattr(environment, 'installed_tensorboards', lambda: ['tensorboard', 'tb-nightly'])
    assert environment.warn_about_tensorboard() is not None
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('rnan_basicsr: warning: both tensorboard and tb-nightly')
    assert lines[0].endswith('Fix: pip uninstall -y tb-nightly && pip install --force-reinstall --no-deps tensorboard')


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _get(port, path, **query):
    url = f'http://127.0.0.1:{port}{path}' + (('?' + urllib.parse.urlencode(query)) if query else '')
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
    return body if response.headers.get_content_type().startswith('image/') else json.loads(body)


def test_a_missing_command_fails_in_ci_instead_of_skipping(monkeypatch, tmp_path):
    monkeypatch.setenv('CI', 'true')
    with pytest.raises(AssertionError, match='CI must run the tests that use it'):
        require_command(str(tmp_path / 'tensorboard'))
    monkeypatch.delenv('CI')
    with pytest.raises(pytest.skip.Exception):
        require_command(str(tmp_path / 'tensorboard'))


@pytest.mark.slow
def test_tensorboard_serves_the_scalars_and_images_of_a_training_run(tiny_paired_data):
    require_command(TENSORBOARD)
    cwd = tiny_paired_data
    result = run_basicsr(['train', '-opt', osp.join(TEST_OPTIONS, 'train_tiny_rnan.yml'), '--force_yml',
                          'model_type=RNANModel'], cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    port = _free_port()
    server = subprocess.Popen([TENSORBOARD, '--logdir', str(cwd / 'tb_logger'), '--host', '127.0.0.1', '--port',
                               str(port), '--reload_interval', '1'], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=dict(os.environ, PYTHONWARNINGS='ignore'))
    try:
        deadline, scalars, images = time.monotonic() + 120, {}, {}
        while time.monotonic() < deadline:
            assert server.poll() is None, f'tensorboard exited: {server.stdout.read()[-3000:]}'
            try:
                scalars = _get(port, '/data/plugin/scalars/tags').get('tiny_rnan', {})
                images = _get(port, '/data/plugin/images/tags').get('tiny_rnan', {})
            except OSError:  # not listening yet
                pass
            if {'losses/l_pix', 'lr', 'metrics/TinyVal/psnr'} <= set(scalars) and images:
                break
            time.sleep(1)
        assert {'losses/l_pix', 'lr', 'metrics/TinyVal/psnr'} <= set(scalars), scalars
        for tag in ('losses/l_pix', 'lr', 'metrics/TinyVal/psnr'):
            points = _get(port, '/data/plugin/scalars/scalars', run='tiny_rnan', tag=tag)
            assert points and all(len(point) == 3 for point in points), (tag, points)  # [wall time, step, value]
        lr = {step: value for _, step, value in _get(port, '/data/plugin/scalars/scalars', run='tiny_rnan', tag='lr')}
        assert lr[1] == pytest.approx(1e-4) and lr[4] == pytest.approx(5e-5)  # MultiStepLR milestone 3, gamma 0.5
        psnr = [value for _, _, value in _get(port, '/data/plugin/scalars/scalars', run='tiny_rnan',
                                              tag='metrics/TinyVal/psnr')]
        assert all(10 < value < 60 for value in psnr), psnr
        assert list(images) == ['val_images/TinyVal/img000'], images
        entries = _get(port, '/data/plugin/images/images', run='tiny_rnan', tag='val_images/TinyVal/img000', sample=0)
        assert entries, 'no image events'
        png = _get(port, '/data/plugin/images/individualImage?' + entries[-1]['query'])
        assert png[:8] == b'\x89PNG\r\n\x1a\n'
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
