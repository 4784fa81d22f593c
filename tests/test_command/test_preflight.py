"""The option checks `basicsr train|test` runs before BasicSR creates (or archives) anything.

Our dataset classes and RNANModel are written on other branches; where a test needs one, a small stand-in with the
contracted ``check_options`` classmethod is put in BasicSR's registry for the duration of the test.
"""
import logging
import os
import pytest
import re
import yaml
from basicsr.models.sr_model import SRModel
from basicsr.utils.registry import DATASET_REGISTRY, MODEL_REGISTRY
from conftest import TEST_OPTIONS, key_position

from rnan_basicsr.cli import EXIT_INPUT_ERROR, main
from rnan_basicsr.command.preflight import _root_logger_untouched
from rnan_basicsr.options.rules import dataset_channels
from rnan_basicsr.utils.errors import InputError

TINY = os.path.join(TEST_OPTIONS, 'train_tiny_rnan.yml')


def _options(tmp_path, changes=(), delete=()):
    """The tiny option file with ``changes`` ({'a.b': value}) and ``delete`` (['a.b']) applied; returns its path."""
    with open(TINY) as f:
        opt = yaml.safe_load(f)
    for dotted, value in dict(changes).items():
        *parents, last = dotted.split('.')
        node = opt
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    for dotted in delete:
        *parents, last = dotted.split('.')
        node = opt
        for key in parents:
            node = node[key]
        del node[last]
    path = tmp_path / 'opt.yml'
    path.write_text(yaml.safe_dump(opt))
    return str(path)


def _fails(args, capsys):
    """Run the command in-process; it must print one error line and create nothing."""
    assert main(args) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('basicsr: error: '), err
    assert not os.path.exists('experiments') and not os.path.exists('tb_logger') and not os.path.exists('results')
    return lines[0][len('basicsr: error: '):]


@pytest.fixture
def in_data_dir(tiny_paired_data, monkeypatch):
    monkeypatch.chdir(tiny_paired_data)
    return tiny_paired_data


def _stand_in_dataset(name, check):
    """A dataset class with the contracted ``check_options`` classmethod, named like one of ours, whose channels
    are those of ours."""
    real = DATASET_REGISTRY.get(name)

    class StandIn:
        calls = []

        def __init__(self, opt):
            raise AssertionError('the option checks must not build datasets')

        @classmethod
        def check_options(cls, opt):
            cls.calls.append(dict(opt))
            check(opt)

        num_channels, channels_reason = real.num_channels, real.channels_reason

    StandIn.__name__ = name
    return StandIn


def _register(monkeypatch, registry, name, obj):
    monkeypatch.setitem(registry._obj_map, name, obj)  # restored after the test, real class or not


def _gray_denoising_dataset():
    return {'name': 'GrayNoise', 'type': 'DenoisingDataset', 'dataroot_gt': 'datasets/tiny/train/gt', 'sigma': 50,
            'gray': True, 'gt_size': 16, 'batch_size_per_gpu': 2, 'num_worker_per_gpu': 0}


def test_the_class_check_options_runs_with_phase_and_scale_and_its_message_gets_the_file(
        in_data_dir, monkeypatch, capsys):

    def check(opt):
        if not 0 <= opt['sigma'] <= 255:
            raise InputError(f'datasets.train ({opt["name"]}): sigma {opt["sigma"]} is outside [0, 255] (noise level '
                             'on the 0-255 scale); e.g. sigma: 50.')

    stand_in = _stand_in_dataset('DenoisingDataset', check)
    _register(monkeypatch, DATASET_REGISTRY, 'DenoisingDataset', stand_in)
    dataset = dict(_gray_denoising_dataset(), sigma=300)
    opt_path = _options(in_data_dir, {'datasets.train': dataset, 'network_g.num_in_ch': 1, 'network_g.num_out_ch': 1},
                        delete=['datasets.val'])
    message = _fails(['train', '-opt', opt_path], capsys)
    assert message == (f"{key_position(opt_path, 'datasets', 'train')}: datasets.train (GrayNoise): sigma 300 is "
                       'outside [0, 255] (noise level on the 0-255 scale); e.g. sigma: 50.')
    assert stand_in.calls[-1]['phase'] == 'train' and stand_in.calls[-1]['scale'] == 1


@pytest.mark.parametrize('kind,changes,expected', [
    ('JPEGArtifactDataset', {}, 'JPEGArtifactDataset restores the Y channel'),
    ('DenoisingDataset', {'gray': True}, 'DenoisingDataset with gray: true'),
])
def test_network_channels_must_match_the_dataset(kind, changes, expected, in_data_dir, monkeypatch, capsys):
    _register(monkeypatch, DATASET_REGISTRY, kind, _stand_in_dataset(kind, lambda opt: None))
    dataset = {'name': 'Y', 'type': kind, 'dataroot_gt': 'datasets/tiny/train/gt', 'gt_size': 16,
               'batch_size_per_gpu': 2, 'num_worker_per_gpu': 0, **changes}
    opt_path = _options(in_data_dir, {'datasets.train': dataset}, delete=['datasets.val'])
    message = _fails(['train', '-opt', opt_path], capsys)
    assert message == (f"{key_position(opt_path, 'network_g', 'num_in_ch')}: network_g.num_in_ch is 3 but "
                       f'datasets.train (Y) gives 1-channel images ({expected}). Set network_g.num_in_ch: 1 and '
                       'num_out_ch: 1, or change the dataset.')


def test_dataset_channels():
    assert dataset_channels({'type': 'DenoisingDataset'})[0] == 3
    assert dataset_channels({'type': 'DenoisingDataset', 'gray': True})[0] == 1
    assert dataset_channels({'type': 'JPEGArtifactDataset', 'quality': 10})[0] == 1
    assert dataset_channels({'type': 'DemosaicingDataset'})[0] == 3
    assert dataset_channels({'type': 'PairedImageDataset'})[0] == 3
    assert dataset_channels({'type': 'PairedImageDataset', 'color': 'y'})[0] == 1
    assert dataset_channels({'type': 'SomeoneElsesDataset'}) is None

    class WithNumChannels:

        @classmethod
        def num_channels(cls, opt):
            return 1 if opt.get('gray') else 3

    assert dataset_channels({'type': 'SomeoneElsesDataset', 'gray': True}, WithNumChannels) == (
        1, 'SomeoneElsesDataset.num_channels')
    assert dataset_channels({'type': 'DenoisingDataset', 'gray': True}) == (1, 'DenoisingDataset with gray: true')
    assert dataset_channels({'type': 'DemosaicingDataset'}) == (3, 'DemosaicingDataset (RGB)')


def test_restoration_datasets_need_scale_1(in_data_dir, monkeypatch, capsys):
    _register(monkeypatch, DATASET_REGISTRY, 'DemosaicingDataset', _stand_in_dataset('DemosaicingDataset',
                                                                                     lambda opt: None))
    dataset = {'name': 'Bayer', 'type': 'DemosaicingDataset', 'dataroot_gt': 'datasets/tiny/train/gt', 'gt_size': 16,
               'batch_size_per_gpu': 2, 'num_worker_per_gpu': 0}
    opt_path = _options(in_data_dir, {'datasets.train': dataset, 'scale': 2}, delete=['datasets.val'])
    assert 'datasets.train (Bayer) is a DemosaicingDataset, whose LQ and GT images have the same size, but scale is 2' \
        in _fails(['train', '-opt', opt_path], capsys)


@pytest.mark.parametrize('changes,delete,expected', [
    ({'datasets.train.use_filp': True}, [], "datasets.train.use_filp is not an option of PairedImageDataset. Did you "
     "mean 'use_hflip'?"),
    ({'datasets.val.dataroot_lq': 'datasets/tiny/val/LR'}, [], "datasets.val (TinyVal): dataroot_lq "
     "'datasets/tiny/val/LR' does not exist (relative to "),
    ({}, ['datasets.train.dataroot_lq'], 'datasets.train.dataroot_lq is missing; add it.'),
    # BasicSR's PairedImageDataset reads io_backend and its type without a default: declared required (a default
    # disk in the schema passed the file, then the pre-flight's pairing stopped with KeyError 'io_backend')
    ({}, ['datasets.val.io_backend'], 'datasets.val.io_backend is missing; add it.'),
    ({'datasets.val.io_backend': {}}, [], 'datasets.val.io_backend.type is missing; add it.'),
    ({'datasets.train.io_backend': {'type': 'lmdb'}}, [], "datasets.train (TinyTrain): dataroot_gt "
     "'datasets/tiny/train/gt' is not an LMDB (no data.mdb), but io_backend is lmdb"),
    ({'scale': 4, 'network_g.upscale': 4, 'datasets.train.gt_size': 50}, [], 'datasets.train (TinyTrain): gt_size 50 '
     'is not a multiple of scale 4 (LQ patches are gt_size / scale pixels). Use gt_size: 48 or 52.'),
    ({'scale': 2}, [], 'network_g.upscale is 1 but scale is 2: the network must enlarge its input by the factor '
     'between LQ and GT images.'),
    ({'datasets.val.color': 'y'}, [], 'network_g.num_in_ch is 3 but datasets.val (TinyVal) gives 1-channel images '
     '(PairedImageDataset with color: y).'),
    ({}, ['scale'], 'scale is missing; PairedImageDataset needs it'),
    ({'network_g.num_feats': 8}, [], "network_g.num_feats is not an option of RNAN. Did you mean 'num_feat'? Its "
     'options: num_in_ch, num_out_ch, num_feat, num_group, upscale, img_range, rgb_mean, nl_softmax, nl_impl.'),
    ({'network_g.num_feat': 7}, [], 'network_g (RNAN): num_feat must be an even number >= 2'),
    ({'train.pixel_opt.loss_wieght': 1.0}, [], "train.pixel_opt.loss_wieght is not an option of MSELoss. Did you "
     "mean 'loss_weight'?"),
    ({'train.optim_g.type': 'AdamW'}, [], "train.optim_g.type 'AdamW' is not supported by SRModel"),
    ({'train.scheduler.milestone': [3]}, [], "train.scheduler.milestone is not an option of MultiStepRestartLR. Did "
     "you mean 'milestones'?"),
    ({}, ['logger.save_checkpoint_freq'], 'logger.save_checkpoint_freq is missing; add it.'),
    ({}, ['val.val_freq'], 'val.val_freq is missing; add it.'),
    ({}, ['logger'], 'logger is missing; add it.'),
    ({'datasets.train.batch_size_per_gpu': 0}, [], 'datasets.train.batch_size_per_gpu must be >= 1, got 0.'),
    ({}, ['datasets.train.batch_size_per_gpu'], 'datasets.train (TinyTrain): training needs batch_size_per_gpu; '
     'add batch_size_per_gpu: 16'),
    ({}, ['datasets.train.use_rot'], 'datasets.train (TinyTrain): training needs use_rot; add use_rot: true'),
    ({'path.pretrain_network_g': 'experiments/pretrained_models/RNAN_SRx2.pth'}, [], "path.pretrain_network_g "
     "'experiments/pretrained_models/RNAN_SRx2.pth' does not exist"),
])
def test_training_options_are_checked_before_anything_is_created(changes, delete, expected, in_data_dir, capsys):
    opt_path = _options(in_data_dir, changes, delete)
    message = _fails(['train', '-opt', opt_path], capsys)
    # every mistake is placed at the file:line:column of its key (of its section when the key is missing); a
    # missing top-level key has no place but the file
    top_level_missing = re.match(r'\w+ is missing', expected) is not None
    where = r'(:\d+:\d+)?: ' if top_level_missing else r':\d+:\d+: '
    assert re.match(re.escape(opt_path) + where, message) and expected in message, message


@pytest.mark.parametrize('changes,key,expected', [
    ({'datasets.train.dataroot_lq': 'datasets/nowhere'}, ('datasets', 'train', 'dataroot_lq'), "dataroot_lq "
     "'datasets/nowhere' does not exist"),
    ({'datasets.train.gt_size': 15, 'scale': 2, 'network_g.upscale': 2}, ('datasets', 'train', 'gt_size'),
     'gt_size 15 is not a multiple of scale 2'),
    ({'network_g.upscale': 2}, ('network_g', 'upscale'), 'network_g.upscale is 2 but scale is 1'),
    ({'train.warmup_iter': 4}, ('train', 'warmup_iter'), 'train.warmup_iter must be -1 (no warm-up)'),
    ({'train.scheduler.milestones': [3, 2]}, ('train', 'scheduler', 'milestones'), 'milestones must be strictly '
     'increasing'),
    ({'train.optim_g.betas': [0.9, 2.0]}, ('train', 'optim_g'), 'Adam refuses these options'),
    ({'num_gpu': 1}, ('num_gpu', ), 'num_gpu is 1 but this machine has'),
])
def test_a_rule_places_its_message_at_the_key_it_names(changes, key, expected, in_data_dir, capsys, monkeypatch):
    monkeypatch.setattr('torch.cuda.is_available', lambda: False)
    opt_path = _options(in_data_dir, changes)
    message = _fails(['train', '-opt', opt_path], capsys)
    where = key_position(opt_path, *key)
    assert message.startswith(f'{where}: ') and expected in message, (where, message)


def test_a_rule_on_a_value_set_by_force_yml_says_so(in_data_dir, capsys):
    opt_path = _options(in_data_dir)
    message = _fails(['train', '-opt', opt_path, '--force_yml', 'train:scheduler:milestones=[3, 2]'], capsys)
    assert message.startswith(f"{key_position(opt_path, 'train', 'scheduler', 'milestones')}: train.scheduler."
                              'milestones must be strictly increasing'), message
    assert message.endswith(' (train.scheduler.milestones set by --force_yml)'), message
    # a rule about a section names the forced key below it
    message = _fails(['train', '-opt', opt_path, '--force_yml', 'train:optim_g:betas=[0.9, 2.0]'], capsys)
    assert message.startswith(f"{key_position(opt_path, 'train', 'optim_g')}: ") and 'Adam refuses' in message
    assert message.endswith(' (train.optim_g.betas set by --force_yml)'), message


def test_basicsr_test_needs_weights(in_data_dir, capsys):
    with open(TINY) as f:
        val = yaml.safe_load(f)['datasets']['val']
    opt_path = _options(in_data_dir, {'datasets': {'test_1': val}}, delete=['train', 'logger'])
    assert 'path.pretrain_network_g is not set: basicsr test would evaluate a randomly initialised network' in _fails(
        ['test', '-opt', opt_path], capsys)


def test_the_model_check_options_runs(in_data_dir, monkeypatch, capsys):

    class CheckedModel(SRModel):
        seen = []

        @classmethod
        def check_options(cls, opt):
            cls.seen.append(opt['name'])
            if (opt.get('val') or {}).get('self_ensemble'):
                raise InputError('val.self_ensemble is not supported by CheckedModel.')

    _register(monkeypatch, MODEL_REGISTRY, 'CheckedModel', CheckedModel)
    opt_path = _options(in_data_dir, {'model_type': 'CheckedModel', 'val.self_ensemble': True})
    assert _fails(['train', '-opt', opt_path], capsys) == (
        f'{opt_path}: val.self_ensemble is not supported by CheckedModel.')
    assert CheckedModel.seen == ['tiny_rnan']


def test_a_class_check_that_sets_up_basicsr_logging_is_undone():
    """BasicSR configures its logger once; a check calling get_root_logger() would leave training without a log
    file."""
    from basicsr.utils import get_root_logger
    from basicsr.utils.logger import initialized_logger
    before = ('basicsr' in initialized_logger, list(logging.getLogger('basicsr').handlers))
    with _root_logger_untouched():
        get_root_logger()
    assert ('basicsr' in initialized_logger, list(logging.getLogger('basicsr').handlers)) == before


def test_the_rules_of_our_datasets_run_once_per_check(in_data_dir, monkeypatch):
    """check_dataset_options runs a DegradedImageDataset's scale and training-key rules; the pre-flight does not run
    them a second time beside it (it runs them itself only for BasicSR's and other plugins' classes)."""
    import rnan_basicsr.data.degraded_image_dataset as degraded_image_dataset
    import rnan_basicsr.options.dataset_rules as dataset_rules
    import rnan_basicsr.options.rules as rules
    from rnan_basicsr.command import preflight
    from rnan_basicsr.options.loader import read_option_file

    calls = []

    def counted(name, function):
        def wrapper(*args):
            calls.append((name, args[1].get('phase') if name == 'check_dataset_options' else None))
            return function(*args)
        return wrapper

    originals = {name: getattr(rules, name) for name in ('restoration_data_at_scale_1', 'training_keys_given')}
    for module in (rules, dataset_rules):
        for name, function in originals.items():
            monkeypatch.setattr(module, name, counted(name, function))
    check = counted('check_dataset_options', dataset_rules.check_dataset_options)
    for module in (preflight, degraded_image_dataset):
        monkeypatch.setattr(module, 'check_dataset_options', check)
    denoise = {'type': 'DenoisingDataset', 'dataroot_gt': 'datasets/tiny/train/gt', 'sigma': 30,
               'io_backend': {'type': 'disk'}}
    changes = {'datasets.train': dict(denoise, name='TinyTrain', gt_size=16, use_hflip=True, use_rot=True,
                                      num_worker_per_gpu=0, batch_size_per_gpu=2),
               'datasets.val': dict(denoise, name='TinyVal', dataroot_gt='datasets/tiny/val/gt')}
    opt_path = _options(in_data_dir, changes)
    preflight.check_options(read_option_file(opt_path), opt_path, True)
    checks = [phase for name, phase in calls if name == 'check_dataset_options']
    assert sorted(set(checks)) == ['train', 'val']
    assert [name for name, _ in calls].count('restoration_data_at_scale_1') == len(checks)
    assert [name for name, _ in calls].count('training_keys_given') == checks.count('train')
