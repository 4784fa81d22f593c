"""What the measurements run on: natural test images, the official network's three variants, an ``RNANModel`` built
from an in-memory option dict, and the LMDBs of the data pipeline. Every image comes from scikit-image's bundled
photographs; nothing is downloaded."""
import contextlib
import numpy as np
import os
import torch
from os import path as osp

from rnan_basicsr.tools.benchmark.spec import TRAIN_PATCH

#: RNAN's arguments besides the channels: none, the official configuration (the tests make it tiny)
OFFICIAL_NET = {}
#: the small network trained by the benchmark for the quality columns
QUALITY_NET = dict(num_in_ch=3, num_out_ch=3, num_feat=16, num_group=2)
QUALITY_SIGMA, QUALITY_STEPS, QUALITY_PATCH, QUALITY_BATCH = 30, 150, 24, 4
DATA_TASKS = ('denoise', 'jpeg', 'demosaic')
DATA_GT_SIZE, DATA_SUB_IMAGE = 48, 480


def init_attention(net, variant):
    """Non-local output convolutions W drawn from N(0, 0.02) instead of zero, so that attention changes the output;
    ``floor`` replaces the non-local blocks by the identity (what the rest of the network costs)."""
    from rnan_basicsr.archs.rnan_arch import NonLocalBlock

    for block in net.modules():
        if isinstance(block, NonLocalBlock):
            torch.nn.init.normal_(block.W.weight, std=0.02)
            if variant == 'floor':
                block.forward = lambda x: x
    return net


def build_network(channels, variant, device):
    """The official RNAN (10 groups, 64 features), random seeded weights, in the form ``variant`` names."""
    from rnan_basicsr.archs.rnan_arch import RNAN

    torch.manual_seed(0)
    return init_attention(RNAN(**official_network(channels, variant)), variant).to(device)


def official_network(channels, variant):
    """The arguments of the official RNAN with ``channels`` in and out, in the form ``variant`` names (without the
    ``type`` key of an option file's ``network_g``)."""
    return dict(num_in_ch=channels, num_out_ch=channels, nl_impl='direct' if variant == 'direct' else 'auto',
                **OFFICIAL_NET)


def build_model(network, device, switches, variant=None, lr=1e-4, pretrained=None):
    """A training ``RNANModel`` of ``RNAN(**network)``, seeded, built by BasicSR's ``build_model`` from an in-memory
    option dict (nothing is written to disk): L2 loss, Adam (lr, betas 0.9 / 0.999), no EMA, no gradient clipping
    (the paper's setting), the row's switches; with a ``variant`` of the official network, its attention set up as
    :func:`init_attention` says."""
    from basicsr.models import build_model as basicsr_build_model
    from basicsr.utils import get_root_logger

    get_root_logger().setLevel('WARNING')  # the model would print the whole network
    torch.manual_seed(0)
    model = basicsr_build_model({
        'name': 'benchmark', 'model_type': 'RNANModel', 'num_gpu': 1 if torch.device(device).type == 'cuda' else 0,
        'is_train': True, 'dist': False, 'rank': 0, 'world_size': 1, 'scale': 1,
        'network_g': dict(type='RNAN', **network),
        'path': {'pretrain_network_g': pretrained, 'strict_load_g': True, 'param_key_g': 'params'},
        'train': {
            'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': lr, 'betas': [0.9, 0.999]},
            'scheduler': {'type': 'MultiStepLR', 'milestones': [10**9], 'gamma': 0.5},
            'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0, 'reduction': 'mean'},
            'mixed_precision': switches.amp, 'channels_last': switches.channels_last,
            'compile': switches.compile, 'tf32': switches.tf32,
        },
    })
    if variant:
        init_attention(model.get_bare_model(model.net_g), variant)
    return model


def centre_crop(img, size):
    """The size x size centre of ``img`` (H, W, C; uint8), tiled first if it is smaller: (1, C, H, W) in [0, 1]."""
    reps = -(-size // min(img.shape[:2]))
    img = np.tile(img, (reps, reps, 1))
    top, left = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
    img = img[top:top + size, left:left + size].astype(np.float32) / 255.
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).unsqueeze(0)


def test_image(channels, size):
    """A natural image (scikit-image's camera / astronaut) cropped to size x size, (1, C, H, W) in [0, 1]."""
    from skimage import data

    return centre_crop(data.astronaut() if channels == 3 else data.camera()[..., None], size)


def training_batch(channels, batch, patch=TRAIN_PATCH, seed=0):
    """``{'lq', 'gt'}``: two (batch, C, patch, patch) random tensors in [0, 1], as ``RNANModel.feed_data`` takes."""
    generator = torch.Generator().manual_seed(seed)
    return {'lq': torch.rand(batch, channels, patch, patch, generator=generator),
            'gt': torch.rand(batch, channels, patch, patch, generator=generator)}


def quality_image(size):
    """The held-out image of the quality network: a size x size crop of chelsea with sigma-30 noise, (1, 3, H, W)
    noisy and clean, BGR in [0, 1] (noisy unclipped)."""
    from skimage import data

    clean = centre_crop(data.chelsea()[:, :, ::-1], size)  # BGR, as the training images
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(1)) * QUALITY_SIGMA / 255.
    return clean + noise, clean


def quality_batches(steps, seed=0):
    """``steps`` training batches of the quality network: QUALITY_BATCH random 24 x 24 crops of three photographs
    (BGR in [0, 1]) with fresh sigma-30 noise, as ``{'lq', 'gt'}``."""
    from skimage import data

    images = [torch.from_numpy(np.ascontiguousarray(getattr(data, name)()[:, :, ::-1].transpose(2, 0, 1)))
              .float().div(255.) for name in ('astronaut', 'coffee', 'rocket')]
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        patches = []
        for _ in range(QUALITY_BATCH):
            img = images[int(torch.randint(len(images), (1, ), generator=generator))]
            top = int(torch.randint(img.shape[1] - QUALITY_PATCH + 1, (1, ), generator=generator))
            left = int(torch.randint(img.shape[2] - QUALITY_PATCH + 1, (1, ), generator=generator))
            patches.append(img[:, top:top + QUALITY_PATCH, left:left + QUALITY_PATCH])
        gt = torch.stack(patches)
        yield {'lq': gt + torch.randn(gt.shape, generator=generator) * QUALITY_SIGMA / 255., 'gt': gt}


# ---------------------------------------------------------------------------------------------------------------
# data pipeline
# ---------------------------------------------------------------------------------------------------------------
def sub_images():
    """Eight 480 x 480 BGR sub-images of scikit-image photographs (resized so the short side is 480)."""
    import cv2
    from skimage import data

    crops = []
    for name in ('astronaut', 'coffee', 'chelsea', 'rocket'):
        img = np.ascontiguousarray(getattr(data, name)()[:, :, ::-1])
        factor = DATA_SUB_IMAGE / min(img.shape[:2])
        if factor > 1:
            img = cv2.resize(img, (round(img.shape[1] * factor), round(img.shape[0] * factor)),
                             interpolation=cv2.INTER_CUBIC)
        height, width = img.shape[:2]
        for top, left in ((0, 0), (height - DATA_SUB_IMAGE, width - DATA_SUB_IMAGE)):
            crops.append(img[top:top + DATA_SUB_IMAGE, left:left + DATA_SUB_IMAGE])
    return crops


def write_lmdb(images, folder, lmdb_path):
    """PNG files of ``images`` in ``folder`` and an LMDB of them (BasicSR's make_lmdb_from_imgs, meta_info.txt)."""
    import cv2
    from basicsr.utils.lmdb_util import make_lmdb_from_imgs

    os.makedirs(folder, exist_ok=True)
    names = []
    for index, img in enumerate(images):
        names.append(f'{index:04d}.png')
        cv2.imwrite(osp.join(folder, names[-1]), img)
    with open(os.devnull, 'w') as devnull, contextlib.redirect_stdout(devnull):
        make_lmdb_from_imgs(folder, lmdb_path, names, [n[:-4] for n in names], map_size=2**30)


def data_datasets(root):
    """{name: dataset} for our three datasets and PairedImageDataset on pre-made pairs of each task."""
    from basicsr.data.paired_image_dataset import PairedImageDataset

    from rnan_basicsr.data.degradations import add_gaussian_noise, bayer_mosaic, jpeg_compress_y, y_channel
    from rnan_basicsr.data.demosaicing_dataset import DemosaicingDataset
    from rnan_basicsr.data.denoising_dataset import DenoisingDataset
    from rnan_basicsr.data.jpeg_artifact_dataset import JPEGArtifactDataset

    gt = sub_images()
    rng = np.random.default_rng(0)
    pairs = {
        'denoise': (gt, [add_gaussian_noise(img, 30, rng) for img in gt]),
        'jpeg': ([y_channel(img) for img in gt], [jpeg_compress_y(img, 10) for img in gt]),
        'demosaic': (gt, [bayer_mosaic(img) for img in gt]),
    }
    common = dict(phase='train', gt_size=DATA_GT_SIZE, use_hflip=True, use_rot=True, batch_size_per_gpu=16,
                  num_worker_per_gpu=0, io_backend={'type': 'lmdb'})
    ours = {'denoise': (DenoisingDataset, {'sigma': 30}), 'jpeg': (JPEGArtifactDataset, {'quality': 10}),
            'demosaic': (DemosaicingDataset, {})}
    datasets = {}
    for task in DATA_TASKS:
        cls, extra = ours[task]
        gt_lmdb = osp.join(root, f'{task}_source.lmdb')  # one copy each: an LMDB opens once per process
        write_lmdb(gt, osp.join(root, f'{task}_source'), gt_lmdb)
        datasets[cls.__name__] = cls(dict(common, name=task, type=cls.__name__, dataroot_gt=gt_lmdb, **extra))
        for side, images in zip(('gt', 'lq'), pairs[task]):
            write_lmdb([img[..., 0] if img.shape[-1] == 1 else img for img in images],
                       osp.join(root, f'{task}_{side}'), osp.join(root, f'{task}_{side}.lmdb'))
        if task == 'jpeg':  # the same sub-images stored as their Y channel: read as they are, a third of the bytes
            y_lmdb = osp.join(root, 'jpeg_source_y.lmdb')
            write_lmdb([img[..., 0] for img in pairs['jpeg'][0]], osp.join(root, 'jpeg_source_y'), y_lmdb)
            datasets[f'{cls.__name__} (Y LMDB)'] = cls(dict(common, name='jpeg_y', type=cls.__name__,
                                                            dataroot_gt=y_lmdb, **extra))
        datasets[f'PairedImageDataset ({task})'] = PairedImageDataset(
            dict(common, name=f'paired_{task}', type='PairedImageDataset', scale=1, filename_tmpl='{}',
                 dataroot_gt=osp.join(root, f'{task}_gt.lmdb'), dataroot_lq=osp.join(root, f'{task}_lq.lmdb'),
                 io_backend={'type': 'lmdb'}))
    return datasets
