"""The declared option file: every key BasicSR 1.4.2 or this plugin reads, with its type, range, default and meaning
(docs/options.md is generated from it). Mappings marked :class:`Registered` become, in :func:`.registered.typed`, the
tagged union (keyed by ``type``) of the registered classes' options, read from their signatures.
"""
import re
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from typing import Annotated, Any, ClassVar, Dict, List, Literal, Optional, Union

#: a float or an int (strict mode accepts ints for floats, never bools or strings)
Number = float
#: an integer; one written as an exactly integral float (``1.3e6``, ``5e3``) is that integer, as in JSON Schema
Integer = Annotated[StrictInt, BeforeValidator(lambda value: int(value) if isinstance(value, float)
                                               and value.is_integer() else value)]
Precision = Optional[Literal['fp32', 'bf16', 'fp16']]


class Section(BaseModel):
    """A mapping of declared keys, strict (``'1'`` is not an integer, ``1`` not ``true``), unknown keys refused.
    ``overridden`` maps keys BasicSR sets itself (a value in the file would be ignored) to the reason."""
    model_config = ConfigDict(extra='forbid', strict=True)
    overridden: ClassVar[Dict[str, str]] = {}
    #: the registered class or function whose arguments these are ('' for a section of the file)
    owner: ClassVar[str] = ''


class Registered(str):
    """The mark of a mapping whose ``type`` names a class of BasicSR's registry of this kind (arch, dataset, loss,
    metric), a torch.optim optimizer (``optimizer``) or a BasicSR scheduler (``scheduler``)."""


Arch, Dataset, Loss, Metric, Optimizer, Scheduler = (Annotated[Dict[str, Any], Registered(kind)] for kind in (
    'arch', 'dataset', 'loss', 'metric', 'optimizer', 'scheduler'))


# --- datasets (keys read by BasicSR's data loader, and by every dataset class) ---
_BASICSR_SETS = 'BasicSR sets it from the datasets key (train, val, test, val_2...); remove it'


class IOBackend(Section):
    type: Literal['disk', 'lmdb', 'memcached'] = Field(description='where the images are read from: image folders '
                                                       '(disk) or LMDBs made by create_lmdb.py (lmdb)')
    overridden: ClassVar[Dict[str, str]] = dict.fromkeys(('db_paths', 'client_keys'), 'the dataset sets it from '
                                                         'dataroot_gt / dataroot_lq; remove it')


class DatasetOptions(Section):
    """What every dataset has: BasicSR's data loader reads these (``build_dataloader``, ``train.py``)."""
    name: StrictStr = Field(description='name of the dataset in logs and result folders')
    type: StrictStr = Field(description='registered dataset class, e.g. PairedImageDataset or DenoisingDataset')
    batch_size_per_gpu: Optional[Integer] = Field(None, ge=1, description='training batch size per process')
    num_worker_per_gpu: Optional[Integer] = Field(None, ge=0, description='DataLoader workers per process (training)')
    dataset_enlarge_ratio: Number = Field(1, gt=0, description='training: the dataset is repeated this many times '
                                          'per epoch')
    prefetch_mode: Optional[Literal['cpu', 'cuda']] = Field(None, description='~ (plain DataLoader), cpu or cuda '
                                                            'prefetching of training batches')
    pin_memory: StrictBool = Field(False, description='DataLoader pin_memory (training)')
    persistent_workers: StrictBool = Field(False, description='keep DataLoader workers between epochs (training)')
    num_prefetch_queue: Integer = Field(1, ge=1, description='batches prefetched with prefetch_mode: cpu')
    overridden: ClassVar[Dict[str, str]] = {
        'phase': _BASICSR_SETS,
        'datasets_key': 'the basicsr command sets it to the datasets key (test_1...); remove it',
        'scale': 'BasicSR copies the top-level scale into every dataset; set scale at the top level'
    }


class ImageFolderOptions(DatasetOptions):
    """Keys shared by datasets that read a GT folder or LMDB (and optionally an LQ one)."""
    dataroot_lq: Optional[StrictStr] = Field(None, description='folder or .lmdb of the degraded (LQ) images')
    meta_info_file: Optional[StrictStr] = Field(None, description='text file listing the images to use (disk only)')
    filename_tmpl: StrictStr = Field('{}', description="LQ name of a GT name, e.g. '{}x2' for babyx2.png")
    io_backend: IOBackend = Field(description='{type: disk} or {type: lmdb}: BasicSR reads it without a default')
    gt_size: Optional[Integer] = Field(None, ge=1, description='side of the square GT training patches, pixels')
    use_hflip: StrictBool = Field(True, description='training: random horizontal flips')
    use_rot: StrictBool = Field(True, description='training: random 90-degree rotations and vertical flips')


class PairedImageDatasetOptions(ImageFolderOptions):
    """BasicSR's PairedImageDataset (super-resolution pairs): what ``paired_image_dataset.py`` reads."""
    dataroot_gt: StrictStr = Field(description='folder or .lmdb of the ground-truth (HR) images')
    dataroot_lq: StrictStr = Field(description='folder or .lmdb of the LR images')
    # BasicSR's PairedImageDataset reads these with opt[...] in training: no default applies (the training rule asks)
    use_hflip: Optional[StrictBool] = Field(None, description='training (required there): random horizontal flips')
    use_rot: Optional[StrictBool] = Field(None, description='training (required there): random 90-degree rotations '
                                          'and vertical flips')
    color: Optional[Literal['y']] = Field(None, description="'y': train and test on the Y channel; ~: colour")
    mean: Optional[List[Number]] = Field(None, description='per-channel mean subtracted from LQ and GT (normalize)')
    std: Optional[List[Number]] = Field(None, description='per-channel std LQ and GT are divided by (normalize)')


class DiskOrLMDB(IOBackend):
    type: Literal['disk', 'lmdb'] = Field('disk', description='image folders (disk) or LMDBs made by create_lmdb.py')


class DegradedImageDatasetOptions(ImageFolderOptions):
    """Our datasets: ground truth in, the degraded copy made on the fly (or read from dataroot_lq)."""
    dataroot_gt: StrictStr = Field(description='folder or .lmdb of the ground-truth images')
    io_backend: DiskOrLMDB = Field(default_factory=DiskOrLMDB, description='{type: disk} or {type: lmdb}')
    seed: Integer = Field(0, ge=0, description='validation / test: degradations seeded from it and the image name')


class DenoisingDatasetOptions(DegradedImageDatasetOptions):
    sigma: Optional[Union[Number, List[Number]]] = Field(None, description='noise standard deviation on the 0-255 '
                                                         'scale, or [low, high] drawn per patch')
    gray: StrictBool = Field(False, description='true: 1-channel grey items; false: RGB')
    clip: StrictBool = Field(True, description='clip the noisy image to [0, 255] and round it to 8 bits')


class JPEGArtifactDatasetOptions(DegradedImageDatasetOptions):
    quality: Optional[Union[Integer, List[Integer]]] = Field(None, description='JPEG quality 1-100, or [low, '
                                                             'high] drawn per patch')


#: the declared options of the dataset classes whose options are not constructor arguments; any other registered
#: dataset class (another plugin's) gets :class:`DatasetOptions` with its own keys allowed
DATASET_OPTIONS = {
    'PairedImageDataset': PairedImageDatasetOptions,
    'DenoisingDataset': DenoisingDatasetOptions,
    'JPEGArtifactDataset': JPEGArtifactDatasetOptions,
    'DemosaicingDataset': DegradedImageDatasetOptions,  # it adds no option
}


# --- path, train, val, logger, dist_params ---
def _laid_out_by_basicsr(folder):
    return f'BasicSR replaces it with {folder} (parse_options); remove it'


class PathOptions(Section):
    pretrain_network_g: Optional[StrictStr] = Field(None, description='weights network_g starts from (.pth or '
                                                    '.safetensors); ~ for random weights')
    strict_load_g: StrictBool = Field(True, description='the weights must fit network_g key by key')
    param_key_g: Optional[StrictStr] = Field('params', description='key of the weights in the checkpoint (params, '
                                             'params_ema); left out, basicsr test uses params_ema if the file has it')
    resume_state: Optional[StrictStr] = Field(None, description='training state (.state) to resume from; '
                                              '--auto_resume finds the newest')
    ignore_resume_networks: Optional[List[StrictStr]] = Field(None, description='networks not loaded from models/ '
                                                              'when resuming, e.g. [network_d]')
    pretrain_network_d: Optional[StrictStr] = Field(None, description='weights of network_d (GAN models)')
    strict_load_d: StrictBool = Field(True, description='the weights must fit network_d key by key')
    param_key_d: Optional[StrictStr] = Field('params', description='key of the network_d weights in the checkpoint')
    overridden: ClassVar[Dict[str, str]] = {
        'experiments_root': _laid_out_by_basicsr('experiments/<name>'),
        'models': _laid_out_by_basicsr('experiments/<name>/models'),
        'training_states': _laid_out_by_basicsr('experiments/<name>/training_states'),
        'log': _laid_out_by_basicsr('experiments/<name> (results/<name> when testing)'),
        'visualization': _laid_out_by_basicsr('experiments/<name>/visualization (results/<name>/... when testing)'),
        'results_root': _laid_out_by_basicsr('results/<name>'),
    }


class CompileOptions(Section):
    """torch.compile arguments."""
    backend: Optional[StrictStr] = Field(None, description='torch.compile backend (default inductor)')
    mode: Optional[StrictStr] = Field(None, description='torch.compile mode, e.g. reduce-overhead')
    dynamic: Optional[StrictBool] = Field(None, description='torch.compile dynamic shapes')
    fullgraph: Optional[StrictBool] = Field(None, description='torch.compile fullgraph')


Compile = Union[StrictBool, CompileOptions]


class TrainOptions(Section):
    total_iter: Integer = Field(ge=1, description='iterations to train')
    warmup_iter: Integer = Field(-1, ge=-1, description='linear learning-rate warm-up iterations; -1: none')
    ema_decay: Number = Field(0, ge=0, lt=1, description='EMA of the weights (params_ema); 0: no EMA')
    optim_g: Optimizer = Field(description='optimizer of network_g: type (Adam, AdamW, SGD...) and its arguments')
    scheduler: Optional[Scheduler] = Field(None, description='learning-rate schedule: MultiStepLR or '
                                           'CosineAnnealingRestartLR and its arguments')
    pixel_opt: Optional[Loss] = Field(None, description='pixel loss: type (L1Loss, MSELoss...) and arguments')
    perceptual_opt: Optional[Loss] = Field(None, description='perceptual loss (PerceptualLoss) and arguments')
    mixed_precision: Precision = Field(None, description='autocast while training: bf16, fp16 (with a GradScaler) '
                                       'or ~ (float32)')
    channels_last: StrictBool = Field(False, description='network and batches in NHWC memory format')
    compile: Compile = Field(False, description='torch.compile the training forward: true, or its arguments')
    grad_clip: Optional[Number] = Field(None, gt=0, description="clip the gradients' global L2 norm; ~: no clipping")
    # 100: a diverged run stops instead of training on, far above the ~20 halvings of fp16's GradScaler at the start
    max_nonfinite_steps: Integer = Field(100, ge=1, description='a step with non-finite gradients is skipped '
                                         '(counted as skipped_steps); this many in a row stop the run')
    tf32: StrictBool = Field(True, description='TF32 for float32 convolutions and matmuls on Ampere+ GPUs')


class TileOptions(Section):
    size: Integer = Field(ge=1, description='tile side in LQ pixels')
    overlap: Integer = Field(0, ge=0, description='overlap of neighbouring tiles in LQ pixels, < size')


class ValOptions(Section):
    val_freq: Optional[Integer] = Field(None, ge=1, description='training: validate every that many iterations')
    save_img: StrictBool = Field(description='save the restored images under visualization/')
    suffix: Optional[StrictStr] = Field(None, description='saved images are <image>_<suffix>.png (default: _<name>)')
    pbar: StrictBool = Field(False, description='show a progress bar while validating')
    metrics: Optional[Dict[str, Metric]] = Field(None, description='metrics by name: type (calculate_psnr, '
                                                 'calculate_ssim...) and arguments')
    tile: Optional[TileOptions] = Field(None, description='~: whole images; {size, overlap}: tiled inference')
    self_ensemble: StrictBool = Field(False, description='x8 flips and rotations averaged (RNAN+)')
    tb_images: Integer = Field(3, ge=0, description='validation images per dataset sent to TensorBoard')
    mixed_precision: Precision = Field(None, description='autocast while testing: bf16, fp16 or ~ (float32)')
    channels_last: StrictBool = Field(False, description='network and images in NHWC memory format')
    compile: Compile = Field(False, description='torch.compile the test forward: true, or its arguments')
    tf32: StrictBool = Field(False, description='TF32 for float32 convolutions and matmuls while testing')


class WandbOptions(Section):
    project: Optional[StrictStr] = Field(None, description='wandb project that syncs the TensorBoard logs')
    resume_id: Optional[StrictStr] = Field(None, description='wandb run id to resume')


class LoggerOptions(Section):
    print_freq: Integer = Field(ge=1, description='log losses and learning rate every that many iterations')
    save_checkpoint_freq: Integer = Field(ge=1, description='save weights and training state every that many '
                                          'iterations')
    use_tb_logger: StrictBool = Field(description='write TensorBoard logs to tb_logger/<name>')
    wandb: Optional[WandbOptions] = Field(None, description='Weights & Biases (needs use_tb_logger: true)')


class DistParams(Section):
    backend: Literal['nccl', 'gloo', 'mpi'] = Field('nccl', description='torch.distributed backend (gloo on '
                                                    'machines without CUDA)')
    port: Integer = Field(29500, ge=1, le=65535, description='master port (--launcher slurm)')


# --- the file ---
_COMMAND_LINE = 'BasicSR sets it from the command line ({}); remove it'
#: a name is one folder under experiments/ and results/
_NAME = re.compile(r'^(?!\.{1,2}$)[^/\\\x00]+$')


class _File(Section):
    """What every option file has (:class:`Options` adds ``train``, ``val`` and ``logger``)."""
    model_config = ConfigDict(extra='forbid', strict=True, regex_engine='python-re')  # the name pattern looks ahead
    name: StrictStr = Field(description='experiment name: the folder experiments/<name> (results/<name> when testing)',
                            pattern=_NAME.pattern)
    model_type: StrictStr = Field(description='registered model, e.g. RNANModel or SRModel')
    scale: Integer = Field(1, ge=1, description='GT size / LQ size: 1 for restoration, 2, 3, 4 for super-resolution')
    num_gpu: Union[Integer, Literal['auto']] = Field(description='GPUs to use: 0 for the CPU, or auto for every '
                                                     'visible GPU')
    manual_seed: Optional[Integer] = Field(None, description='random seed (of Python, numpy and torch); ~: random')
    find_unused_parameters: StrictBool = Field(False, description='DistributedDataParallel find_unused_parameters')
    datasets: Dict[str, Dataset] = Field(description='datasets by phase: train, val (val_2...) or test_1, test_2...')
    network_g: Arch = Field(description='the network: type (RNAN...) and its arguments')
    network_d: Optional[Arch] = Field(None, description='discriminator of GAN models')
    path: PathOptions = Field(description='weights to start from and the state to resume')
    dist_params: Optional[DistParams] = Field(None, description='distributed settings for --launcher slurm')
    overridden: ClassVar[Dict[str, str]] = {
        'is_train': _COMMAND_LINE.format('basicsr train or basicsr test'),
        'auto_resume': _COMMAND_LINE.format('--auto_resume'),
        'dist': _COMMAND_LINE.format('--launcher'),
        'rank': _COMMAND_LINE.format('--launcher'),
        'world_size': _COMMAND_LINE.format('--launcher'),
        'root_path': 'BasicSR sets it to the folder basicsr runs in; remove it',
    }


class Options(_File):
    """An option file of ``basicsr train`` / ``basicsr test``."""
    train: Optional[TrainOptions] = Field(None, description='training settings (basicsr train)')
    val: Optional[ValOptions] = Field(None, description='validation (during training) and test settings')
    logger: Optional[LoggerOptions] = Field(None, description='logging and checkpoint frequency (basicsr train)')


class TrainingValOptions(ValOptions):
    val_freq: Integer = Field(ge=1)


class TrainingFile(_File):
    """An option file of ``basicsr train``: ``train`` and ``logger`` required, ``val`` with its ``val_freq``."""
    train: TrainOptions
    val: Optional[TrainingValOptions] = None
    logger: LoggerOptions


_NOT_READ_BY_TEST = 'basicsr test does not read it (it trains nothing); remove it, or run basicsr train'


class TestFile(_File):
    """An option file of ``basicsr test``: ``val`` required; ``train`` and ``logger``, which it ignores, refused."""
    val: ValOptions
    overridden: ClassVar[Dict[str, str]] = dict(_File.overridden, train=_NOT_READ_BY_TEST, logger=_NOT_READ_BY_TEST)


# --- registered types: what their signatures do not say ---
PositiveInt = Annotated[Integer, Field(ge=1)]
PositiveNumber = Annotated[Number, Field(gt=0)]
RestartWeights = Annotated[List[PositiveNumber], Field(min_length=1)]

#: types and ranges of registered types' arguments beyond their signatures, by kind and by class name; read by
#: :func:`rnan_basicsr.options.registered.options_model`. ``...`` as a default makes an argument required.
ARGUMENTS = {
    'optimizer': {'lr': (PositiveNumber, ...)},  # torch's own constructor checks betas, eps, weight_decay...
    'loss': {
        'loss_weight': (Annotated[Number, Field(ge=0)], 1.0),
        'reduction': (Literal['none', 'mean', 'sum'], 'mean')
    },
    'MultiStepRestartLR': {
        'milestones': (Annotated[List[PositiveInt], Field(min_length=1)], ...),
        'gamma': (Annotated[Number, Field(gt=0, le=1)], 0.1),
        'restarts': (List[Annotated[Integer, Field(ge=0)]], [0]),
        'restart_weights': (RestartWeights, [1]),
    },
    'CosineAnnealingRestartLR': {
        'periods': (Annotated[List[PositiveInt], Field(min_length=1)], ...),
        'restart_weights': (RestartWeights, [1]),
        'eta_min': (Annotated[Number, Field(ge=0)], 0),
    },
}
