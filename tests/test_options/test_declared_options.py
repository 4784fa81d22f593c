"""Every key of an option file is declared: a misspelled, overridden or misplaced key anywhere in the file is refused
by ``basicsr train`` in one line with ``file:line:column`` and the key it resembles, before anything is written."""
import os
import pytest
from conftest import ROOT, TEST_OPTIONS, key_position

from rnan_basicsr.cli import EXIT_INPUT_ERROR, main
from rnan_basicsr.options.loader import apply_force_yml, read_option_file
from rnan_basicsr.options.validate import check_declared
from rnan_basicsr.utils.errors import InputError

TINY = os.path.join(TEST_OPTIONS, 'train_tiny_rnan.yml')
SR_X2 = os.path.join(ROOT, 'options', 'train_RNAN_SR_x2.yml')


def _edited(tmp_path, old, new):
    """The tiny option file with the text ``old`` replaced by ``new`` (so that lines and columns are known)."""
    with open(TINY, encoding='utf-8') as f:
        text = f.read()
    assert old in text
    path = tmp_path / 'opt.yml'
    path.write_text(text.replace(old, new, 1))
    return str(path)


def _where(opt_path, expected):
    """``file:line:column`` of the key a message ``expected`` starts with (``train.optim_g.lr must ...``)."""
    return key_position(opt_path, *expected.split(' ')[0].split('.'))


def _refused(args, capsys):
    """Run the command in-process; it must print one error line, exit 2 and create nothing."""
    assert main(args) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('basicsr: error: ') and 'Traceback' not in err, err
    assert not [name for name in ('experiments', 'tb_logger', 'results') if os.path.exists(name)]
    return lines[0][len('basicsr: error: '):]


@pytest.fixture
def in_data_dir(tiny_paired_data, monkeypatch):
    monkeypatch.chdir(tiny_paired_data)
    return tiny_paired_data


@pytest.mark.parametrize('old, new, expected', [
    ('  total_iter: 4\n', '  total_iter: 4\n  mixed_precison: bf16\n',
     "train.mixed_precison is not an option of train. Did you mean 'mixed_precision'?"),
    ('  total_iter: 4\n', '  total_iter: 1\n  total_iters: 8\n',
     "train.total_iters is not an option of train. Did you mean 'total_iter'?"),
    ('  save_img: false\n', '  save_img: false\n  self_ensembel: true\n',
     "val.self_ensembel is not an option of val. Did you mean 'self_ensemble'?"),
    ('  val_freq: 2\n', '  val_freq: 2\n  val_freqq: 1\n',
     "val.val_freqq is not an option of val. Did you mean 'val_freq'?"),
    ('  use_tb_logger: true\n', '  use_tb_logger: true\n  use_tb_loger: false\n',
     "logger.use_tb_loger is not an option of logger. Did you mean 'use_tb_logger'?"),
    ('manual_seed: 0\n', 'manual_sed: 0\n',
     "manual_sed is not an option of the option file. Did you mean 'manual_seed'?"),
    ('num_gpu: 0\n', 'num_gpu: 0\nnum_gpus: 0\n',
     "num_gpus is not an option of the option file. Did you mean 'num_gpu'?"),
    ('      crop_border: 0\n', '      crop_boder: 0\n',
     "val.metrics.psnr.crop_boder is not an option of calculate_psnr. Did you mean 'crop_border'?"),
    ('  resume_state: ~\n', '  resume_state: ~\n  experiments_root: elsewhere\n',
     'path.experiments_root is refused: BasicSR replaces it with experiments/<name>'),
    ('    gamma: 0.5\n', '    gamma: 0.5\n    milestone: [2]\n',
     "train.scheduler.milestone is not an option of MultiStepRestartLR. Did you mean 'milestones'?"),
    ('    use_rot: true\n', '    use_rot: true\n    use_filp: true\n',
     "datasets.train.use_filp is not an option of PairedImageDataset. Did you mean 'use_hflip'?"),
])
def test_a_misspelled_or_overridden_key_is_refused_where_it_is(old, new, expected, in_data_dir, tmp_path, capsys):
    opt_path = _edited(tmp_path, old, new)
    message = _refused(['train', '-opt', opt_path], capsys)
    assert message.startswith(f'{_where(opt_path, expected)}: {expected}'), message


@pytest.mark.parametrize('name, expected', [
    ('20261205', "name must be a string usable as a folder name, got int 20261205: quote it, name: '20261205'"),
    ('grp/exp1', "name 'grp/exp1' must be one folder name"),
    ('../esc', "name '../esc' must be one folder name"),
    ("''", "name '' must be one folder name"),
])
def test_name_must_be_one_folder(name, expected, in_data_dir, tmp_path, capsys):
    opt_path = _edited(tmp_path, 'name: tiny_rnan\n', f'name: {name}\n')
    message = _refused(['train', '-opt', opt_path], capsys)
    assert message.startswith(f'{_where(opt_path, expected)}: {expected}'), message
    assert not os.path.exists(tmp_path / 'esc') and not os.path.exists(tmp_path / 'grp')


def test_a_typo_in_a_number_says_how_yaml_reads_it(in_data_dir, tmp_path, capsys):
    opt_path = _edited(tmp_path, 'lr: !!float 1e-4\n', 'lr: 1e-4x\n')
    message = _refused(['train', '-opt', opt_path], capsys)
    assert "train.optim_g.lr must be a number, got '1e-4x' (YAML reads" in message, message
    assert "YAML reads '1e-4x' as a string, not a number: a float looks like 1e-4" in message


def test_a_value_of_the_wrong_type_is_refused_with_its_place(in_data_dir, tmp_path, capsys):
    opt_path = _edited(tmp_path, '  use_tb_logger: true\n', '  use_tb_logger: yes please\n')
    assert _refused(['train', '-opt', opt_path], capsys) == (
        f"{key_position(opt_path, 'logger', 'use_tb_logger')}: logger.use_tb_logger must be true or false, got "
        "'yes please'.")
    opt_path = _edited(tmp_path, 'val:\n  val_freq: 2\n', 'val:\n  val_freq: 2\n  tb_images: -1\n')
    assert _refused(['train', '-opt', opt_path], capsys).startswith(
        f"{key_position(opt_path, 'val', 'tb_images')}: val.tb_images must be >= 0, got -1")


@pytest.mark.parametrize('old,new,expected', [
    ('val:\n  val_freq: 2\n', 'val:\n  val_freq: 2\n  self_ensemble: yes please\n',
     "val.self_ensemble must be true or false, got 'yes please'."),
    ('val:\n  val_freq: 2\n', 'val:\n  val_freq: 2\n  tf32: 1\n', 'val.tf32 must be true or false, got 1.'),
    ('train:\n  ema_decay: 0\n', 'train:\n  ema_decay: 0\n  channels_last: yes please\n',
     "train.channels_last must be true or false, got 'yes please'."),
    ('train:\n  ema_decay: 0\n', 'train:\n  ema_decay: 0\n  compile:\n    mod: max-autotune\n',
     "train.compile.mod is not an option of train.compile. Did you mean 'mode'?"),
    ('train:\n  ema_decay: 0\n', 'train:\n  ema_decay: 0\n  compile: maybe\n',
     "train.compile must be true or false or a mapping"),
    ('train:\n  ema_decay: 0\n', 'train:\n  ema_decay: 0\n  grad_clip: 0\n',
     'train.grad_clip must be > 0, got 0.'),
    ('train:\n  ema_decay: 0\n', 'train:\n  ema_decay: 0\n  grad_clip: inf\n',
     "train.grad_clip must be a number, got 'inf'"),
    ('train:\n  ema_decay: 0\n', 'train:\n  ema_decay: 0\n  max_nonfinite_steps: 0\n',
     'train.max_nonfinite_steps must be >= 1, got 0.'),
    ('    weight_decay: 0\n', '    weight_dekay: 0\n',
     "train.optim_g.weight_dekay is not an option of Adam. Did you mean 'weight_decay'?"),
])
def test_the_models_switches_are_checked_by_the_schema(old, new, expected, in_data_dir, tmp_path, capsys):
    """RNANModel's rules (rnan_basicsr.command.model_checks) leave these to the schema, which gives the place too."""
    opt_path = _edited(tmp_path, old, new)
    assert _refused(['train', '-opt', opt_path], capsys).startswith(f'{_where(opt_path, expected)}: {expected}')


def test_force_yml_values_are_checked_too(in_data_dir, capsys):
    message = _refused(['train', '-opt', TINY, '--force_yml', 'val:metrics:psnr:test_y_channel=maybe'], capsys)
    assert message == (f"{key_position(TINY, 'val', 'metrics', 'psnr', 'test_y_channel')}: "
                       "val.metrics.psnr.test_y_channel must be true or false, got 'maybe' (set by --force_yml).")


def test_another_plugins_registered_classes_are_checked_by_their_signature(in_data_dir, tmp_path, monkeypatch,
                                                                           capsys):
    from basicsr.utils.registry import LOSS_REGISTRY
    from torch import nn

    class PluginLoss(nn.Module):

        def __init__(self, loss_weight=1.0, edge_weight=0.5):
            super().__init__()

    monkeypatch.setitem(LOSS_REGISTRY._obj_map, 'PluginLoss', PluginLoss)
    opt_path = _edited(tmp_path, '    type: MSELoss\n    loss_weight: 1.0\n    reduction: mean\n',
                       '    type: PluginLoss\n    loss_weight: 1.0\n    edge_wieght: 0.1\n')
    message = _refused(['train', '-opt', opt_path], capsys)
    where = key_position(opt_path, 'train', 'pixel_opt', 'edge_wieght')
    assert message == (f"{where}: train.pixel_opt.edge_wieght is not an option of PluginLoss. Did you mean "
                       "'edge_weight'? Its options: loss_weight, edge_weight."), message


@pytest.mark.parametrize('force, expected', [
    (['train:mixed_precision=bf16', 'val:tile:size=64'], None),  # declared keys the file does not have (tile: ~)
    (['train:mixed_precison=bf16'], "train.mixed_precison is not an option of train (set by --force_yml). Did you "
     "mean 'mixed_precision'?"),
    (['trian:total_iter=4'], "trian is not an option of the option file (set by --force_yml). Did you mean 'train'?"),
])
def test_force_yml_sets_any_declared_key(force, expected):
    options = apply_force_yml(read_option_file(SR_X2), force)
    if expected is None:
        check_declared(options, is_train=True)
        assert options.opt['train']['mixed_precision'] == 'bf16' and options.opt['val']['tile'] == {'size': 64}
    else:
        with pytest.raises(InputError) as error:
            check_declared(options, is_train=True)
        where = SR_X2 if expected.startswith('trian') else key_position(SR_X2, 'train')  # a new section has no line
        assert str(error.value).startswith(f'{where}: {expected}'), error.value
