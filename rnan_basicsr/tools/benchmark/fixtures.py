"""What the measurements run on: scikit-image's bundled photographs (nothing is downloaded), the official network's
three variants, an ``RNANModel`` built from an in-memory option dict, and the LMDBs of the data pipeline."""
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
    ``floor`` replaces the non-local blocks by the identity."""
    from rnan_basicsr.archs.rnan_arch import NonLocalBlock

    for block in net.modules():
        if isinstance(block, NonLocalBlock):
            torch.nn.init.normal_(block.W.weight, std=0.02)
            if variant == 'floor':
                block.forward = lambda x: x
    return net


def build_network(channels, variant, device):
    """The official RNAN, random seeded weights, in the form ``variant`` names."""
    from rnan_basicsr.archs.rnan_arch import RNAN

    torch.manual_seed(0)
    return init_attention(RNAN(**official_network(channels, variant)), variant).to(device)


def official_network(channels, variant):
    """The arguments of the official RNAN with ``channels`` in and out, in the form ``variant`` names."""
    return dict(num_in_ch=channels, num_out_ch=channels, nl_impl='direct' if variant == 'direct' else 'auto',
                **OFFICIAL_NET)


def build_model(network, device, switches, variant=None, lr=1e-4, pretrained=None):
    """A training ``RNANModel`` of ``RNAN(**network)``, seeded, from an in-memory option dict: L2 loss, Adam, no EMA,
    no gradient clipping (the paper's setting), the row's switches; with a ``variant``, :func:`init_attention`."""
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
    """scikit-image's camera (grey) or astronaut (colour), cropped."""
    from skimage import data

    return centre_crop(data.astronaut() if channels == 3 else data.camera()[..., None], size)


def training_batch(channels, batch, patch=TRAIN_PATCH, seed=0):
    """``{'lq', 'gt'}``: two (batch, C, patch, patch) random tensors in [0, 1], as ``RNANModel.feed_data`` takes."""
    generator = torch.Generator().manual_seed(seed)
    return {'lq': torch.rand(batch, channels, patch, patch, generator=generator),
            'gt': torch.rand(batch, channels, patch, patch, generator=generator)}


def quality_image(size):
    """The quality network's held-out image: noisy (unclipped) and clean crops of chelsea, BGR."""
    from skimage import data

    clean = centre_crop(data.chelsea()[:, :, ::-1], size)  # BGR, as the training images
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(1)) * QUALITY_SIGMA / 255.
    return clean + noise, clean


def quality_batches(steps, seed=0):
    """``steps`` ``{'lq', 'gt'}`` batches of random crops of three photographs (BGR) with fresh noise."""
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


def write_lmdb(images, root, name):
    """PNG files of ``images`` in ``root/name`` and their LMDB ``root/name.lmdb`` (BasicSR's make_lmdb_from_imgs);
    returns the LMDB's path."""
    import cv2
    from basicsr.utils.lmdb_util import make_lmdb_from_imgs

    folder = osp.join(root, name)
    os.makedirs(folder)
    names = [f'{index:04d}' for index in range(len(images))]
    for key, img in zip(names, images):
        cv2.imwrite(osp.join(folder, f'{key}.png'), img)  # (H, W, 1) is written as grey
    with open(os.devnull, 'w') as devnull, contextlib.redirect_stdout(devnull):
        make_lmdb_from_imgs(folder, folder + '.lmdb', [f'{key}.png' for key in names], names, map_size=2**30)
    return folder + '.lmdb'


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
        sources = [(cls.__name__, task, gt)]
        if task == 'jpeg':  # the same sub-images stored as their Y channel: read as they are, a third of the bytes
            sources.append((f'{cls.__name__} (Y LMDB)', 'jpeg_y', pairs['jpeg'][0]))
        for name, key, images in sources:  # one LMDB each: an LMDB opens once per process
            gt_lmdb = write_lmdb(images, root, f'{key}_source')
            datasets[name] = cls(dict(common, name=key, type=cls.__name__, dataroot_gt=gt_lmdb, **extra))
        datasets[f'PairedImageDataset ({task})'] = PairedImageDataset(
            dict(common, name=f'paired_{task}', type='PairedImageDataset', scale=1, filename_tmpl='{}',
                 dataroot_gt=write_lmdb(pairs[task][0], root, f'{task}_gt'),
                 dataroot_lq=write_lmdb(pairs[task][1], root, f'{task}_lq'),
                 io_backend={'type': 'lmdb'}))  # its own: PairedImageDataset adds db_paths to the dict it is given
    return datasets
