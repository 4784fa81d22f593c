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
from rnan_basicsr.options.loader import load_option_file
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
