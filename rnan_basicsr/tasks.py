"""The tasks of the RNAN paper in one table: what each one restores, from which data, at which levels, how it is scored.
Every part of the package that needs to know what a task is reads it here; a task or a level set is one entry below.
"""
from collections import OrderedDict, namedtuple

from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.validation import did_you_mean

Level = namedtuple('Level', [
    'name',  # option / flag name: sigma, quality, scale
    'minimum',  # accepted range, inclusive
    'maximum',
    'integer',  # True: only integers
    'example',  # shown in error messages
    'meaning',  # words for help texts
    'tag',  # how a level appears in experiment names: sigma30, q10, x2
])

SIGMA = Level('sigma', 0, 255, False, '50 (or [0, 75])', 'noise standard deviation on the 0-255 scale', 'sigma{}')
QUALITY = Level('quality', 1, 100, True, '10 (or [10, 40])', 'JPEG quality', 'q{}')
SCALE = Level('scale', 2, 4, True, '2', 'super-resolution factor', 'x{}')

Task = namedtuple('Task', [
    'key',  # --task of the scripts (dn_rgb, car...)
    'experiment',  # option file names (train_RNAN_<experiment>_<level>.yml), the authors' folder: DN_RGB, CAR...
    'title',  # words for headers and messages
    'dataset',  # the registered dataset class that trains it (SR: BasicSR's PairedImageDataset)
    'channels',  # network input and output channels
    'gray',  # the DenoisingDataset gray option (None for other datasets)
    'degradation',  # scripts/data_preparation/generate_lq.py --task
    'level',  # a Level, or None (demosaicing has none)
    'levels',  # the paper's levels; (None, ) without a level
    'y_channel',  # metrics on the Y channel of YCbCr (else on the image's own channels)
    'crop_border',  # metrics crop a border of `scale` pixels
    'metric_channels',  # words: what the metrics are computed on
    'test_sets',  # the paper's test sets, in the order of its tables
    'val_set',  # the test set used for validation during training (the cheapest to run whole)
    'epochs',  # --epochs default of the authors' <folder>/code/option.py (x 1000 batches = iterations)
    'train_script',  # the authors' training script of the task
    'checkpoint',  # the authors' released file name, formatted with the level
])

_OWN_CHANNELS = "the image's own 3 channels (RGB, no colour conversion)"
_Y = 'the Y channel of YCbCr (ITU-R BT.601 as Matlab rgb2ycbcr, BasicSR bgr2ycbcr(y_only=True))'

TASKS = OrderedDict((task.key, task) for task in (
    Task('dn_rgb', 'DN_RGB', 'colour image denoising (AWGN)', 'DenoisingDataset', 3, False, 'denoise', SIGMA,
         (10, 30, 50, 70), False, False, _OWN_CHANNELS, ('Kodak24', 'CBSD68', 'Urban100'), 'CBSD68', 1300,
         'Train_RNAN_scripts.sh', 'RNAN_F64G10P48L2N{}.pt'),
    Task('dn_gray', 'DN_Gray', 'grey image denoising (AWGN)', 'DenoisingDataset', 1, True, 'denoise', SIGMA,
         (10, 30, 50, 70), False, False, 'the grey channel', ('Kodak24', 'BSD68', 'Urban100'), 'BSD68', 1300,
         'Train_RNAN_DN_Gray_scripts.sh', 'RNAN_Gray_F64G10P48L2N{}.pt'),
    Task('car', 'CAR', 'JPEG compression artifact reduction (Y channel)', 'JPEGArtifactDataset', 1, None, 'jpeg',
         QUALITY, (10, 20, 30, 40), True, False, _Y + '; grey images are taken as Y', ('LIVE1', 'Classic5'),
         'Classic5', 1300, 'Train_RNAN_CAR_Y_scripts.sh', 'RNAN_CAR_Y_F64G10P48L2N{}.pt'),
    Task('demosaic', 'Demosaic', 'demosaicing (GRBG Bayer mosaic)', 'DemosaicingDataset', 3, None, 'demosaic', None,
         (None, ), False, False, _OWN_CHANNELS, ('McMaster', 'Kodak24', 'CBSD68', 'Urban100'), 'McMaster', 1300,
         'Train_RNAN_Demosaic_RGB_scripts.sh', 'RNAN_Demosaic_RGB_F64G10P48L2N1.pt'),
    Task('sr', 'SR', 'bicubic super-resolution', 'PairedImageDataset', 3, None, 'sr', SCALE, (2, 3, 4), True, True,
         _Y, ('Set5', 'Set14', 'B100', 'Urban100', 'Manga109'), 'Set5', 3000, 'Train_RNAN_SR_script.sh',
         'RNAN_SR_F64G10P48BIX{}.pt'),
))

#: the degradations of scripts/data_preparation/generate_lq.py, in table order
DEGRADATIONS = tuple(OrderedDict.fromkeys(task.degradation for task in TASKS.values()))
#: dataset classes whose LQ and GT images have the same size (scale 1)
RESTORATION_DATASETS = tuple(
    OrderedDict.fromkeys(task.dataset for task in TASKS.values() if task.level is not SCALE))


def get_task(key, flag='--task'):
    """The :class:`Task` of ``key`` (``dn_rgb``, ``car``...); an InputError naming the known keys otherwise."""
    if key not in TASKS:
        raise InputError(f'{flag} {key!r} is not a task of RNAN.{did_you_mean(key, TASKS)} Known: {", ".join(TASKS)}.')
    return TASKS[key]


def experiment_name(task, level):
    """``DN_RGB_sigma30``, ``CAR_q10``, ``Demosaic``, ``SR_x2``: the experiment part of option file names."""
    if task.level is None:
        return task.experiment
    return f'{task.experiment}_{task.level.tag.format(level)}'


def option_file_name(kind, task, level):
    """``train_RNAN_<experiment>.yml`` or ``test_RNAN_<experiment>.yml``."""
    return f'{kind}_RNAN_{experiment_name(task, level)}.yml'


def experiments():
    """``[(task, level)]`` of every experiment of the paper, in table order."""
    return [(task, level) for task in TASKS.values() for level in task.levels]
