"""One flag style: every script spells its options with underscores, as BasicSR does (``--n_thread``,
``--crop_size``); the hyphenated spellings of earlier versions are gone (no release documented them)."""
import glob
import pytest
import re
import runpy
import sys
from os import path as osp

from rnan_basicsr.tools import create_lmdb, extract_subimages, generate_lq, inference, reproduce_paper
from rnan_basicsr.tools.benchmark import cli as benchmark

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPTS = sorted(glob.glob(osp.join(REPO, 'scripts', '**', '*.py'), recursive=True))
HYPHENATED = re.compile(r'(?<![\w-])--[A-Za-z0-9]+-[A-Za-z0-9-]+')

# (tool, the arguments it requires, old spelling, BasicSR-style spelling, its value, the attribute set, expected)
OLD_SPELLINGS = [
    (create_lmdb, ['--input', 'a', '--output', 'a.lmdb'], '--compress-level', '--compress_level', ['4'],
     'compress_level', 4),
    (create_lmdb, ['--input', 'a', '--output', 'a.lmdb'], '--threads', '--n_thread', ['3'], 'n_thread', 3),
    (create_lmdb, ['--input', 'a', '--output', 'a.lmdb'], '--n-thread', '--n_thread', ['3'], 'n_thread', 3),
    (extract_subimages, ['--input', 'a', '--output', 'b'], '--crop-size', '--crop_size', ['64'], 'crop_size', 64),
    (extract_subimages, ['--input', 'a', '--output', 'b'], '--thresh-size', '--thresh_size', ['5'], 'thresh_size', 5),
    (extract_subimages, ['--input', 'a', '--output', 'b'], '--input-lr', '--input_lr', ['lr'], 'input_lr', 'lr'),
    (extract_subimages, ['--input', 'a', '--output', 'b'], '--output-lr', '--output_lr', ['o'], 'output_lr', 'o'),
    (extract_subimages, ['--input', 'a', '--output', 'b'], '--compression-level', '--compression_level', ['1'],
     'compression_level', 1),
    (generate_lq, ['--input', 'a', '--output', 'b', '--task', 'jpeg'], '--gt-output', '--gt_output', ['gt'],
     'gt_output', 'gt'),
    (inference, ['--task', 'dn_rgb', '--model_path', 'm.pth', '-i', 'a'], '--save-safetensors', '--save_safetensors',
     ['m.safetensors'], 'save_safetensors', 'm.safetensors'),
    (reproduce_paper, ['--task', 'car'], '--also-chopped', '--also_chopped', [], 'also_chopped', True),
    (benchmark, [], '--no-train', '--no_train', [], 'no_train', True),
    (benchmark, [], '--precision-size', '--precision_size', ['24'], 'precision_size', 24),
]


def help_text(script, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', [script, '--help'])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(script, run_name='__main__')
    assert exit_info.value.code == 0, script
    return capsys.readouterr().out


@pytest.mark.parametrize('script', SCRIPTS, ids=lambda path: osp.relpath(path, REPO))
def test_help_shows_no_hyphenated_option(script, monkeypatch, capsys):
    text = help_text(script, monkeypatch, capsys)
    assert '--help' in text
    assert HYPHENATED.findall(text) == [], f'{script} --help shows hyphenated options'


@pytest.mark.parametrize('tool, required, old, new, value, dest, expected', OLD_SPELLINGS,
                         ids=[case[2] for case in OLD_SPELLINGS])
def test_old_spelling_is_refused(tool, required, old, new, value, dest, expected, capsys):
    parser = tool.build_parser()
    assert getattr(parser.parse_args(required + [new] + value), dest) == expected
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(required + [old] + value)
    assert exit_info.value.code == 2
    assert f'unrecognized arguments: {old}' in capsys.readouterr().err
