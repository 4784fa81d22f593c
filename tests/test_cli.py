"""The ``basicsr`` command: help, version, and one-line errors with exit status 2 for bad input."""
import pytest
import re
import subprocess
import sys
import yaml
from conftest import TEST_OPTIONS, run_basicsr

from rnan_basicsr import __version__
from rnan_basicsr.cli import EXIT_INPUT_ERROR, build_parser, main
from rnan_basicsr.command.run import basicsr_argv

TINY = f'{TEST_OPTIONS}/train_tiny_rnan.yml'


def _error_line(capsys):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith('basicsr: error: ')
    assert 'Traceback' not in err
    return lines[0]


DELETE = object()


def _write_options(tmp_path, **changes):
    with open(TINY) as f:
        opt = yaml.safe_load(f)
    for dotted, value in changes.items():
        node = opt
        *parents, last = dotted.split('.')
        for key in parents:
            node = node[key]
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    path = tmp_path / 'options.yml'
    path.write_text(yaml.safe_dump(opt))
    return str(path)


@pytest.mark.slow
def test_help_and_version_from_the_installed_command(tmp_path):
    result = run_basicsr(['--help'], cwd=tmp_path)
    assert result.returncode == 0
    assert 'train' in result.stdout and 'test' in result.stdout
    result = run_basicsr(['train', '--help'], cwd=tmp_path)
    assert result.returncode == 0 and '-opt' in result.stdout and '--auto_resume' in result.stdout
    result = run_basicsr(['--version'], cwd=tmp_path)
    assert result.returncode == 0 and f'rnan_basicsr {__version__}' in result.stdout and 'basicsr 1.4' in result.stdout


def test_missing_option_file_from_the_installed_command(tmp_path):
    result = run_basicsr(['train', '-opt', 'no/such/file.yml'], cwd=tmp_path)
    assert result.returncode == EXIT_INPUT_ERROR
    assert 'Traceback' not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'no/such/file.yml' does not exist" in lines[0]


def test_no_command_and_bad_flags_exit_2(capsys):
    for argv in ([], ['train'], ['train', '-opt', TINY, '--launcher', 'mpi'], ['serve']):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    assert 'Traceback' not in capsys.readouterr().err


@pytest.mark.parametrize('command', ['train', 'test'])
def test_option_file_that_is_a_folder(command, tmp_path, capsys):
    assert main([command, '-opt', str(tmp_path)]) == EXIT_INPUT_ERROR
    assert 'is not a file' in _error_line(capsys)


def test_an_empty_option_file_or_a_symlink_loop_says_so(tmp_path, capsys):
    (tmp_path / 'empty.yml').write_text('# only a comment\n')
    (tmp_path / 'a.yml').symlink_to(tmp_path / 'b.yml')
    (tmp_path / 'b.yml').symlink_to(tmp_path / 'a.yml')
    (tmp_path / 'dangling.yml').symlink_to(tmp_path / 'nowhere.yml')
    for name, expected in (('empty.yml', 'is empty (no options, only comments or blank lines)'),
                           ('a.yml', 'is a loop of symbolic links'),
                           ('dangling.yml', f"is a symbolic link to {str(tmp_path / 'nowhere.yml')!r}, which leads to "
                            'no file')):
        assert main(['train', '-opt', str(tmp_path / name)]) == EXIT_INPUT_ERROR
        assert expected in _error_line(capsys), name


def test_unreadable_option_file(tmp_path, capsys):
    path = tmp_path / 'binary.yml'
    path.write_bytes(b'\xff\xfe\x00name: x')
    assert main(['train', '-opt', str(path)]) == EXIT_INPUT_ERROR
    assert 'cannot read option file' in _error_line(capsys)


def test_invalid_yaml_names_file_and_line(tmp_path, capsys):
    path = tmp_path / 'broken.yml'
    path.write_text('name: x\nnetwork_g:\n  type: RNAN\n   num_feat: 8\n')
    assert main(['train', '-opt', str(path)]) == EXIT_INPUT_ERROR
    line = _error_line(capsys)
    assert re.search(re.escape(str(path)) + r':4:\d+: invalid YAML: ', line), line


def test_unknown_arch_lists_the_registry_and_basicsr_location(tmp_path, capsys):
    import basicsr
    assert main(['train', '-opt', _write_options(tmp_path, **{'network_g.type': 'RNANN'})]) == EXIT_INPUT_ERROR
    line = _error_line(capsys)
    assert "network_g.type 'RNANN' is not in BasicSR's 'arch' registry" in line
    assert "Did you mean 'RNAN'?" in line and 'RCAN' in line  # the listing
    assert basicsr.__file__.rsplit('/', 1)[0] in line and 'rnan_basicsr' in line


@pytest.mark.parametrize('key,value,registry', [('datasets.train.type', 'NoSuchDataset', 'dataset'),
                                                ('model_type', 'NoSuchModel', 'model'),
                                                ('train.pixel_opt.type', 'NoSuchLoss', 'loss'),
                                                ('val.metrics.psnr.type', 'no_such_metric', 'metric')])
def test_unknown_types_name_key_and_registry(key, value, registry, tmp_path, capsys):
    assert main(['train', '-opt', _write_options(tmp_path, **{key: value})]) == EXIT_INPUT_ERROR
    line = _error_line(capsys)
    assert f"{key} '{value}' is not in BasicSR's '{registry}' registry" in line


def test_missing_sections_and_bad_force_yml(tmp_path, capsys):
    assert main(['train', '-opt', _write_options(tmp_path, name=DELETE)]) == EXIT_INPUT_ERROR
    assert _error_line(capsys).endswith(': name is missing; add it.')
    assert main(['train', '-opt', TINY, '--force_yml', 'train:total_iter']) == EXIT_INPUT_ERROR
    assert 'must have the form key:subkey=value' in _error_line(capsys)
    assert main(['train', '-opt', TINY, '--force_yml', 'train:no_such_key=3']) == EXIT_INPUT_ERROR
    assert 'train.no_such_key is not an option of train (set by --force_yml).' in _error_line(capsys)
    # `basicsr test` runs only test/val datasets and needs a val section (save_img, metrics)
    changes = dict(train=DELETE, logger=DELETE)
    assert main(['test', '-opt', _write_options(tmp_path, **changes)]) == EXIT_INPUT_ERROR
    assert "dataset phase 'train' is not one of test/val" in _error_line(capsys)
    with open(TINY) as f:
        test_datasets = {'test_1': yaml.safe_load(f)['datasets']['val']}
    # a test file without train and logger (basicsr test ignores them, so they are refused) and without val
    assert main(['test', '-opt', _write_options(tmp_path, datasets=test_datasets)]) == EXIT_INPUT_ERROR
    assert 'logger is refused: basicsr test does not read it (it trains nothing)' in _error_line(capsys)
    changes = dict(datasets=test_datasets, train=DELETE, logger=DELETE, val=DELETE)
    assert main(['test', '-opt', _write_options(tmp_path, **changes)]) == EXIT_INPUT_ERROR
    assert _error_line(capsys).endswith(': val is missing; add it.')


def test_local_rank_spellings_and_environment(monkeypatch):
    parser = build_parser()
    assert parser.parse_args(['train', '-opt', 'x', '--local_rank', '3']).local_rank == 3
    assert parser.parse_args(['train', '-opt', 'x', '--local-rank', '5']).local_rank == 5
    monkeypatch.setenv('LOCAL_RANK', '7')
    args = build_parser().parse_args(['test', '-opt', 'x', '--launcher', 'pytorch', '--auto_resume', '--debug',
                                      '--force_yml', 'a=1', 'b:c=2'])
    assert args.local_rank == 7
    # --force_yml is applied (once) by the command; BasicSR must not apply it again
    assert basicsr_argv(args) == ['basicsr', '-opt', 'x', '--launcher', 'pytorch', '--local_rank', '7',
                                  '--auto_resume', '--debug']


def test_python_dash_m_entry_point(tmp_path):
    result = subprocess.run([sys.executable, '-m', 'rnan_basicsr', '--version'], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0 and __version__ in result.stdout
