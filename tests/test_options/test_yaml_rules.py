"""The YAML rules of option files: a pasted second section, an alias bomb and a tag are refused in one line naming
the place; merge keys merge; ``1e-4`` is a float wherever options are read."""
import os
import pytest
import time
import yaml
from conftest import TEST_OPTIONS

from rnan_basicsr.cli import EXIT_INPUT_ERROR, main
from rnan_basicsr.options.loader import read_option_file
from rnan_basicsr.options.yaml_rules import load
from rnan_basicsr.utils.errors import InputError

TINY = os.path.join(TEST_OPTIONS, 'train_tiny_rnan.yml')


def _tiny_text():
    with open(TINY, encoding='utf-8') as f:
        return f.read()


def _refused(tmp_path, monkeypatch, capsys, text):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'opt.yml').write_text(text)
    assert main(['train', '-opt', 'opt.yml']) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and 'Traceback' not in err, err
    assert sorted(os.listdir(tmp_path)) == ['opt.yml']
    return lines[0]


def test_a_second_section_with_the_same_key_is_refused_naming_both_lines(tmp_path, monkeypatch, capsys):
    text = _tiny_text()
    first = text.splitlines().index('val:') + 1
    second = len(text.splitlines()) + 1
    line = _refused(tmp_path, monkeypatch, capsys, text + 'val:\n  val_freq: 1\n  save_img: false\n')
    assert f"duplicate key 'val' on line {first} and again on line {second}" in line, line
    assert line.startswith(f'basicsr: error: opt.yml:{second}:1: '), line


def test_nested_aliases_cannot_expand_the_file(tmp_path, monkeypatch, capsys):
    bomb = 'a: &a [x, x, x, x, x, x, x, x, x]\n' + ''.join(
        f'{chr(98 + i)}: &{chr(98 + i)} [{", ".join([f"*{chr(97 + i)}"] * 9)}]\n' for i in range(8))
    assert len(bomb) < 1024
    started = time.monotonic()
    line = _refused(tmp_path, monkeypatch, capsys, _tiny_text() + bomb)
    assert time.monotonic() - started < 10
    assert 'its aliases expand' in line and 'more than' in line, line
    # placed at the anchor whose nine repeats add the most: &h, the second-last line (column 4: the '[' it anchors)
    anchor_line = (_tiny_text() + bomb).splitlines().index(bomb.splitlines()[-2]) + 1
    assert line.startswith(f'basicsr: error: opt.yml:{anchor_line}:4: '), line
    assert 'the anchor here is used 10 times' in line, line


def test_merge_keys_merge_and_explicit_keys_win():
    opt = load('base: &base {type: disk, x: 1}\nio:\n  <<: *base\n  x: 2\n')
    assert dict(opt['io']) == {'type': 'disk', 'x': 2}


def test_an_option_file_with_a_merge_key_passes_every_check(tiny_paired_data, monkeypatch):
    from rnan_basicsr.command.preflight import check_options

    monkeypatch.chdir(tiny_paired_data)
    text = _tiny_text().replace('  val:\n    name: TinyVal\n', '  val: &val\n    name: TinyVal\n')
    text = text.replace('\nnetwork_g:', '  val_2:\n    <<: *val\n    name: TinyVal2\n\nnetwork_g:')
    (tiny_paired_data / 'opt.yml').write_text(text)
    options = read_option_file('opt.yml')
    assert options.opt['datasets']['val_2']['dataroot_gt'] == options.opt['datasets']['val']['dataroot_gt']
    check_options(options, 'opt.yml', is_train=True)


@pytest.mark.parametrize('text', ['lr: 1e-4', 'lr: 1.0e-4', 'lr: !!float 1e-4', 'lr: 1E-4'])
def test_1e_minus_4_is_a_float_written_any_way(text):
    assert load(text)['lr'] == 1e-4


def test_basicsr_itself_reads_1e_minus_4_as_a_float():
    import basicsr.utils.options as basicsr_options
    assert yaml.load('lr: 1e-4', Loader=basicsr_options.ordered_yaml()[0])['lr'] == 1e-4


def test_a_local_python_tag_is_named_as_written(tmp_path):
    path = tmp_path / 'opt.yml'
    path.write_text('name: !python/object:os.system x\n')
    with pytest.raises(InputError, match=r"opt\.yml:1:7: the tag !python/object:os.system is refused"):
        read_option_file(str(path))
