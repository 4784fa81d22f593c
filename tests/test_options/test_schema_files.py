"""What editors and readers get from the declared options: the JSON Schema beside the option files and
docs/options.md are the code's output, every option file names the schema on its first line, and the schema (read
by the ``jsonschema`` package, as a YAML language server reads it) accepts every shipped file and flags typos."""
import copy
import glob
import json
import jsonschema
import os
import pytest

from rnan_basicsr.options.json_schema import SCHEMA_FILE_NAME, YAML_LANGUAGE_SERVER_LINE
from rnan_basicsr.options.loader import load_option_file, read_option_file
from rnan_basicsr.options.validate import check_declared, declared_errors
from rnan_basicsr.tools import generate_schema
from rnan_basicsr.utils.script_util import differing_texts

ROOT = generate_schema.ROOT
OPTION_FILES = sorted(glob.glob(os.path.join(ROOT, 'options', '*.yml')))


@pytest.fixture(scope='module')
def validator():
    with open(os.path.join(ROOT, 'options', SCHEMA_FILE_NAME), encoding='utf-8') as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_and_the_reference_page_are_the_codes_output(capsys):
    assert differing_texts(generate_schema.generated_files()) == []
    assert generate_schema.main(['--check']) == 0
    with open(os.path.join(ROOT, 'docs', 'options.md'), encoding='utf-8') as f:
        page = f.read()
    for key in ('`train.mixed_precision`', '`val.self_ensemble`', '`logger.use_tb_logger`', '`manual_seed`',
                '`val.metrics.<name>.crop_border`', '`network_g.nl_softmax`', '`datasets.<phase>.sigma`'):
        assert key in page


def test_every_option_file_names_the_schema_on_its_first_line():
    assert len(OPTION_FILES) == 33
    for path in OPTION_FILES:
        with open(path, encoding='utf-8') as f:
            assert f.readline().rstrip('\n') == YAML_LANGUAGE_SERVER_LINE, path


def _as_json(path):
    return json.loads(json.dumps(load_option_file(path)))


@pytest.mark.parametrize('path', OPTION_FILES + sorted(glob.glob(os.path.join(ROOT, 'tests', 'options', '*.yml'))),
                         ids=os.path.basename)
def test_every_option_file_is_valid(path, validator):
    errors = [error.message for error in validator.iter_errors(_as_json(path))]
    assert errors == [], path


SR_X2 = os.path.join(ROOT, 'options', 'train_RNAN_SR_x2.yml')
#: edits of options/train_RNAN_SR_x2.yml (text replaced): the command's declared options and the schema must give each
#: the same verdict (True: valid)
CORPUS = {
    'shipped': ('name: RNAN_SR_x2\n', 'name: RNAN_SR_x2\n', True),
    'an integer written 1.3e6': ('  total_iter: 3000000\n', '  total_iter: 1.3e6\n', True),
    'an integer written 5e3': ('  print_freq: 100\n', '  print_freq: 5e3\n', True),
    'an integer written 5000.0': ('  val_freq: 5000\n', '  val_freq: 5000.0\n', True),
    'mixed_precision added': ('  ema_decay: 0 ', '  mixed_precision: bf16\n  ema_decay: 0 ', True),
    'compile with its arguments': ('  ema_decay: 0 ', '  compile: {mode: max-autotune}\n  ema_decay: 0 ', True),
    'a tile': ('  tile: ~ ', '  tile: {size: 64, overlap: 8} ', True),
    'num_feats in network_g': ('  num_feat: 64\n', '  num_feats: 64\n', False),
    'mixed_precison in train': ('  ema_decay: 0 ', '  mixed_precison: bf16\n  ema_decay: 0 ', False),
    'manual_sed at the top': ('manual_seed: 1 ', 'manual_sed: 1 ', False),
    'crop_boder in a metric': ('      crop_border: 2\n      test_y_channel: true\n    ssim', '      crop_boder: 2\n'
                               '      test_y_channel: true\n    ssim', False),
    'use_filp in a dataset': ('    use_hflip: true\n', '    use_filp: true\n', False),
    'milestone in the scheduler': ('    milestones: [', '    milestone: [', False),
    'loss_wieght in the loss': ('    loss_weight: 1.0\n', '    loss_wieght: 1.0\n', False),
    'phase set in a dataset': ('    name: Set5\n', '    name: Set5\n    phase: val\n', False),
    'experiments_root in path': ('  resume_state: ~\n', '  resume_state: ~\n  experiments_root: x\n', False),
    'an unknown network': ('  type: RNAN\n', '  type: RNAM\n', False),
    'an unknown dataset class': ('    type: PairedImageDataset\n    dataroot_gt: datasets/Set5',
                                 '    type: PairedImageDatasets\n    dataroot_gt: datasets/Set5', False),
    'network_g without type': ('  type: RNAN\n', '', False),
    'a fractional integer': ('  total_iter: 3000000\n', '  total_iter: 1.5\n', False),
    'a quoted integer': ('    gt_size: 96 ', "    gt_size: '96' ", False),
    'an integer out of range': ('    gt_size: 96 ', '    gt_size: 0 ', False),
    'a number out of range': ('    lr: !!float 1e-4\n', '    lr: -1\n', False),
    'a bool as a string': ('  save_img: false\n', "  save_img: 'no'\n", False),
    'a precision not offered': ('  ema_decay: 0 ', '  mixed_precision: bf17\n  ema_decay: 0 ', False),
    'a name with a slash': ('name: RNAN_SR_x2\n', 'name: a/b\n', False),
    'a name that is a number': ('name: RNAN_SR_x2\n', 'name: 2026\n', False),
    'path missing': ('  pretrain_network_g: ~\n  strict_load_g: true\n  resume_state: ~\n', '  {}\n', False),
    'optim_g without lr': ('    lr: !!float 1e-4\n', '', False),
}


@pytest.mark.parametrize('name', CORPUS)
def test_the_schema_and_the_command_give_the_same_verdict(name, validator, tmp_path):
    """Each file of the corpus, read as the command reads it (``read_option_file``), is valid for the JSON Schema
    (Python's ``jsonschema``, as editors and check-jsonschema run it) exactly when the command's declared options
    accept it; a mistake is named at its key by both."""
    old, new, valid = CORPUS[name]
    with open(SR_X2, encoding='utf-8') as f:
        text = f.read()
    assert text.count(old) == 1, old
    path = tmp_path / 'opt.yml'
    path.write_text(text.replace(old, new).replace('path:\n  {}\n', ''))
    options = read_option_file(str(path))
    errors = declared_errors(options)
    schema_errors = list(validator.iter_errors(json.loads(json.dumps(options.opt))))
    assert (not errors, not schema_errors) == (valid, valid), (errors, [e.message for e in schema_errors])
    if valid:  # the command hands BasicSR the integer
        check_declared(options)
        assert type(options.opt['train']['total_iter']) is int and type(options.opt['val']['val_freq']) is int
    if not valid and 'unknown' not in name and 'without' not in name and 'missing' not in name:
        key = errors[0][1].split(': ')[1].split(' ')[0].split('.')[-1]  # the key the command names
        assert any(key in repr(list(e.absolute_path)) + e.message for e in schema_errors), (errors, schema_errors)


@pytest.mark.parametrize('where, old, new', [
    (('train', ), 'mixed_precision', 'mixed_precison'),
    (('train', ), 'total_iter', 'total_iters'),
    (('val', ), 'self_ensemble', 'self_ensembel'),
    (('logger', ), 'use_tb_logger', 'use_tb_loger'),
    ((), 'manual_seed', 'manual_sed'),
    (('val', 'metrics', 'psnr'), 'crop_border', 'crop_boder'),
    (('network_g', ), 'num_feat', 'num_feats'),
    (('datasets', 'train'), 'use_hflip', 'use_filp'),
    (('train', 'scheduler'), 'milestones', 'milestone'),
])
def test_a_misspelled_key_is_invalid(where, old, new, validator):
    opt = _as_json(os.path.join(ROOT, 'options', 'train_RNAN_SR_x2.yml'))
    opt['train']['mixed_precision'] = None
    typo = copy.deepcopy(opt)
    node = typo
    for key in where:
        node = node[key]
    node[new] = node.pop(old)
    assert validator.is_valid(opt) and not validator.is_valid(typo)


def test_link_points_a_copied_option_file_at_the_schema(tmp_path, capsys):
    copy = tmp_path / 'runs' / 'mine.yml'
    copy.parent.mkdir()
    with open(SR_X2, encoding='utf-8') as f:
        text = f.read()
    copy.write_text(text)
    assert generate_schema.main(['--link', str(copy)]) == 0
    first, rest = copy.read_text().split('\n', 1)
    schema = first.split('$schema=')[1]
    assert first.startswith('# yaml-language-server: $schema=') and rest == text.split('\n', 1)[1]
    assert os.path.samefile(copy.parent / schema, os.path.join(ROOT, 'options', SCHEMA_FILE_NAME))
    (tmp_path / 'bare.yml').write_text('name: x\n')  # a file without the line gets it on top
    generate_schema.link(str(tmp_path / 'bare.yml'))
    assert (tmp_path / 'bare.yml').read_text().splitlines()[1:] == ['name: x']
