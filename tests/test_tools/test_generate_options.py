"""The option generator: the committed option files are its output, one pair per experiment of the task table;
--check finds every difference; the YAML it writes (with its comments) reads back as the values it meant; files it
does not generate are left alone."""
import os
import pytest
import shutil
import yaml

from rnan_basicsr import tasks
from rnan_basicsr.tools import generate_options as gen


def test_committed_option_files_are_the_generators_output(capsys):
    on_disk = {}
    for name in os.listdir(gen.OPTIONS_DIR):
        if name.endswith('.yml') and 'quickstart' not in name:  # the quickstart's file is written by hand
            with open(os.path.join(gen.OPTIONS_DIR, name), encoding='utf-8') as f:
                on_disk[name] = f.read()
    assert on_disk == dict(gen.option_texts())
    expected = {tasks.option_file_name(kind, task, level) for task, level in tasks.experiments()
                for kind in ('train', 'test')}
    assert set(on_disk) == expected and len(expected) == 32
    assert gen.main(['--check']) == 0
    assert 'All 32 option files' in capsys.readouterr().out


def test_check_lists_changed_and_missing_files_and_ignores_others(tmp_path, capsys):
    folder = tmp_path / 'options'
    shutil.copytree(gen.OPTIONS_DIR, folder)
    extra = folder / 'train_RNAN_quickstart_DN_RGB_sigma30.yml'  # someone else's file
    extra.write_text('name: quickstart\n')
    with open(folder / 'train_RNAN_CAR_q10.yml', 'a') as f:
        f.write('# a local edit\n')
    os.remove(folder / 'test_RNAN_SR_x3.yml')

    assert gen.main(['--check', '--output', str(folder)]) == 1
    err = capsys.readouterr().err
    assert '2 of 32 option files' in err
    listed = [line.strip() for line in err.splitlines()[1:]]
    assert listed == ['train_RNAN_CAR_q10.yml', 'test_RNAN_SR_x3.yml']

    assert gen.main(['--output', str(folder)]) == 0
    assert 'Wrote 2 of 32' in capsys.readouterr().out
    assert gen.main(['--check', '--output', str(folder)]) == 0
    assert extra.read_text() == 'name: quickstart\n'
    assert not [name for name in os.listdir(folder) if '.tmp' in name]


@pytest.mark.parametrize('name', sorted(gen.option_texts()))
def test_written_yaml_reads_back_as_meant(name):
    """Comments, quoting, wrapped lists and ``!!float`` change nothing: the YAML parses to the intended values."""
    kind, exp_name = name[:-len('.yml')].split('_RNAN_')
    (exp, ) = [e for e in gen.EXPERIMENTS if e.name == exp_name]
    entries = gen.entries_of(kind, exp)
    text = gen.option_texts()[name]
    assert yaml.safe_load(text) == gen.to_data(entries)
    assert max(len(line) for line in text.splitlines()) <= gen.LINE_LIMIT


def test_long_lists_wrap_into_valid_yaml():
    values = tuple(range(100000, 3000000, 100000))
    lines = gen.render([('milestones', values, 'every 100k')], indent=1)
    assert len(lines) > 2 and all(len(line) <= gen.LINE_LIMIT for line in lines)
    assert yaml.safe_load('\n'.join(['outer:'] + lines)) == {'outer': {'milestones': list(values)}}


@pytest.mark.parametrize('value', ['on', 'yes', '~', '10', "it's", 'a: b', '#x', ''])
def test_strings_that_yaml_would_misread_are_quoted(value):
    assert yaml.safe_load(f'key: {gen.scalar(value)}') == {'key': value}
