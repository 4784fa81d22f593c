"""Quickstart: watch RNAN learn colour denoising (sigma 30) on the CPU, through the whole BasicSR path of this project.

    bash scripts/quickstart.sh                      # creates .venv if missing, then runs this script
    python scripts/quickstart.py [--workdir DIR] [--retrain] [--tiny]

Nothing is downloaded (the images ship inside scikit-image). Seven steps, each announced with the command it runs:
sample images, extract_subimages.py, create_lmdb.py, generate_lq.py, ``basicsr train -opt
options/train_RNAN_quickstart_DN_RGB_sigma30.yml`` (a subprocess), inference_rnan.py and evaluate.py (these in this
process). The last lines give the noisy and restored PSNR of the held-out image and the path of a side-by-side picture.

Running it again reuses every step whose outputs exist and whose inputs and settings are unchanged (a fingerprint per
step in ``<workdir>/.quickstart/``), continues an interrupted training (``--auto_resume``), and keeps a previous run
as ``<name>_archived_<time>`` when training starts again. --tiny: the same steps in miniature, in seconds. The steps,
the figures and what is written where: docs/quickstart.md.
"""
import argparse
import hashlib
import json
import numpy as np
import os
import subprocess
import sys
import time
from os import path as osp

import rnan_basicsr  # noqa: F401  (makes basicsr importable and registers RNAN)
from rnan_basicsr.models.resume_policy import newest_training_state
from rnan_basicsr.tools import create_lmdb, evaluate, extract_subimages, generate_lq, inference
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.image_io import read_image, write_image, write_text
from rnan_basicsr.utils.script_util import run_main, staged_folder

PROG = 'quickstart.py'
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OPTION_FILE = osp.join(ROOT, 'options', 'train_RNAN_quickstart_DN_RGB_sigma30.yml')
SIGMA = 30
SEED = 0
STEPS = 7
RUN_FOLDERS = ('experiments', 'tb_logger', 'results')  # the folders of one training run, under its name


class Setting:
    """What differs between the real quickstart and its miniature (--tiny)."""

    def __init__(self, tiny):
        self.tiny = tiny
        self.data = 'datasets/quickstart' + ('_tiny' if tiny else '')
        self.name = 'RNAN_quickstart_DN_RGB_sigma30' + ('_tiny' if tiny else '')
        # skimage.data photographs: (name, (top, bottom), (left, right)) crops; None keeps the whole image
        if tiny:
            self.train_images = [('astronaut', (0, 64), (200, 264)), ('coffee', (100, 164), (200, 264)),
                                 ('rocket', (200, 264), (280, 344))]
            self.held_out = ('chelsea', (110, 142), (150, 182))
            self.crop_size, self.step = 32, 32
        else:
            self.train_images = [('astronaut', None, None), ('coffee', None, None), ('rocket', None, None)]
            self.held_out = ('chelsea', (90, 250), (110, 350))  # both eyes and the nose
            self.crop_size, self.step = 128, 96

    def force_yml(self):
        """``--force_yml`` entries for ``basicsr train`` (the option file holds the real quickstart's values)."""
        if not self.tiny:
            return []
        return [f'name={self.name}', f'datasets:train:dataroot_gt={self.data}/train_HR_sub.lmdb',
                f'datasets:val:dataroot_gt={self.data}/val_HR', f'datasets:val:dataroot_lq={self.data}/val_N{SIGMA}',
                'datasets:train:gt_size=16', 'datasets:train:batch_size_per_gpu=2', 'network_g:num_feat=8',
                'network_g:num_group=2', 'train:total_iter=3', 'train:scheduler:periods=[3]', 'val:val_freq=2',
                'logger:print_freq=1', 'logger:save_checkpoint_freq=2']


# bookkeeping: paths shown to the user, fingerprints of finished steps, banners
def shown(path, start=None):
    """``path`` as the user can type it from ``start`` (default: here): relative to it when that is shorter."""
    relative = osp.relpath(path, start)
    return relative if len(relative) < len(path) else path


def fingerprint(*parts):
    """A short hash of ``parts`` (JSON-serialisable values, or bytes)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode())
        digest.update(b'\0')
    return digest.hexdigest()[:16]


def file_fingerprint(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()[:16]


class Stamps:
    """One JSON file per step in ``<workdir>/.quickstart/``: the fingerprint its outputs were built from, written once
    they are complete (training's when a run starts, so that an interrupted run can be continued)."""

    def __init__(self, workdir):
        self.folder = osp.join(workdir, '.quickstart')

    def path(self, step):
        return osp.join(self.folder, f'{step}.json')

    def read(self, step):
        try:
            with open(self.path(step)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def matches(self, step, value):
        return self.read(step).get('fingerprint') == value

    def write(self, step, value):
        write_text(self.path(step), json.dumps({'fingerprint': value, 'time': time.strftime('%Y-%m-%d %H:%M:%S')}))


def banner(index, title):
    print(f'\n==> [{index}/{STEPS}] {title}', flush=True)


def say(text):
    print(f'    {text}', flush=True)


def run_tool(tool, script, function, argv):
    """Run ``tool.<function>`` with ``argv`` in this process, printing the command of ``scripts/<script>`` first."""
    say('$ ' + ' '.join(shown(w) if osp.isabs(w) else w for w in ['python', osp.join(ROOT, 'scripts', script)] + argv))
    try:
        return getattr(tool, function)(tool.build_parser().parse_args(argv))
    except InputError as error:
        raise InputError(f'{osp.basename(script)}: {error}') from None


def up_to_date(stamps, step, value, outputs):
    """True when every output exists and was built from the inputs and settings fingerprinted by ``value``."""
    if stamps.matches(step, value) and all(osp.exists(p) for p in outputs):
        built = stamps.read(step).get('time', '?')
        say(f'up to date (built {built} from the same inputs and settings): {", ".join(shown(p) for p in outputs)}')
        return True
    return False


def tool_step(stamps, step, value, output, tool, script, function, argv, overwrite=True, ready=True):
    """Run ``tool`` (:func:`run_tool`) unless ``ready`` and ``output`` is up to date; returns ``(value, output)``.

    With ``overwrite``, an existing ``output`` (built from other inputs) is replaced (``--overwrite``)."""
    if not (ready and up_to_date(stamps, step, value, [output])):
        run_tool(tool, script, function, argv + (['--overwrite'] if overwrite and osp.exists(output) else []))
        stamps.write(step, value)
    return value, output


# the steps
def sample_images(setting):
    """``{'train': {name: BGR uint8}, 'val': {name: BGR uint8}}`` from skimage.data, cropped as ``setting`` says."""
    import skimage
    from skimage import data as skimage_data

    def load(name, rows, cols):
        img = getattr(skimage_data, name)()  # RGB uint8, stored inside the scikit-image package
        if rows is not None:
            img = img[rows[0]:rows[1], cols[0]:cols[1]]
        return np.ascontiguousarray(img[..., ::-1])  # BGR, as OpenCV writes

    images = {'train': {name: load(name, rows, cols) for name, rows, cols in setting.train_images},
              'val': {setting.held_out[0]: load(*setting.held_out)}}
    return images, f'scikit-image {skimage.__version__}'


def step_samples(setting, workdir, stamps):
    banner(1, 'Sample images: colour photographs shipped inside scikit-image (skimage.data), nothing downloaded')
    images, source = sample_images(setting)
    values, folders = {}, {}
    for split, label in (('train', 'training'), ('val', 'held out')):
        folders[split] = osp.join(workdir, setting.data, f'{split}_HR')
        values[split] = fingerprint('samples', [(name, img.shape, hashlib.sha256(img.tobytes()).hexdigest())
                                                for name, img in sorted(images[split].items())])
        say(f'{label}: ' + ', '.join(f'{name} ({img.shape[1]}x{img.shape[0]})' for name, img in images[split].items())
            + f' -> {shown(folders[split])}')
        if not up_to_date(stamps, f'samples_{split}', values[split], [folders[split]]):
            with staged_folder(folders[split], overwrite=True) as tmp:
                for name, img in images[split].items():
                    write_image(osp.join(tmp, f'{name}.png'), img)
            say(f'written from {source}')
            stamps.write(f'samples_{split}', values[split])
    return values, folders


def step_subimages(setting, workdir, stamps, upstream, train_hr):
    banner(2, 'Sub-images of the training images (scripts/data_preparation/extract_subimages.py)')
    output = osp.join(workdir, setting.data, 'train_HR_sub')
    params = ['--crop_size', str(setting.crop_size), '--step', str(setting.step)]
    return tool_step(stamps, 'subimages', fingerprint('subimages', upstream, params), output, extract_subimages,
                     'data_preparation/extract_subimages.py', 'extract',
                     ['--input', train_hr, '--output', output] + params)


def step_lmdb(setting, workdir, stamps, upstream, sub_folder):
    banner(3, 'LMDB of the sub-images (scripts/data_preparation/create_lmdb.py)')
    output = osp.join(workdir, setting.data, 'train_HR_sub.lmdb')
    return tool_step(stamps, 'lmdb', fingerprint('lmdb', upstream), output, create_lmdb,
                     'data_preparation/create_lmdb.py', 'create', ['--input', sub_folder, '--output', output],
                     ready=osp.isfile(osp.join(output, 'meta_info.txt')))


def step_noisy(setting, workdir, stamps, upstream, val_hr):
    banner(4, f'Noisy copy of the held-out image, sigma {SIGMA}, fixed seed '
           '(scripts/data_preparation/generate_lq.py)')
    output = osp.join(workdir, setting.data, f'val_N{SIGMA}')
    params = ['--task', 'denoise', '--sigma', str(SIGMA), '--seed', str(SEED)]
    return tool_step(stamps, 'noisy', fingerprint('noisy', upstream, params), output, generate_lq,
                     'data_preparation/generate_lq.py', 'generate', ['--input', val_hr, '--output', output] + params)


def basicsr_command():
    """The ``basicsr`` console script next to this Python, else ``python -m rnan_basicsr`` (the same command)."""
    script = osp.join(osp.dirname(sys.executable), 'basicsr')
    return [script] if osp.isfile(script) else [sys.executable, '-m', 'rnan_basicsr']


def archived_folders(workdir, name):
    return {osp.join(workdir, kind, entry) for kind in RUN_FOLDERS
            if osp.isdir(osp.join(workdir, kind)) for entry in os.listdir(osp.join(workdir, kind))
            if entry.startswith(f'{name}_archived_')}


def archive_run(workdir, name, reason):
    """Rename the folders of a previous run to ``<name>_archived_<time>`` (BasicSR's convention), saying so."""
    from basicsr.utils.misc import get_time_str

    existing = [osp.join(workdir, kind, name) for kind in RUN_FOLDERS if osp.exists(osp.join(workdir, kind, name))]
    if not existing:
        return
    say(f'{reason}; the previous run is kept:')
    stamp = get_time_str()
    for folder in existing:
        target = f'{folder}_archived_{stamp}'
        suffix = 1
        while osp.exists(target):
            suffix += 1
            target = f'{folder}_archived_{stamp}_{suffix}'
        os.rename(folder, target)
        say(f'  {shown(folder)} -> {shown(target)}')


def step_training(setting, workdir, stamps, upstream, retrain):
    banner(5, 'Training a reduced RNAN with BasicSR (basicsr train, options/train_RNAN_quickstart_DN_RGB_sigma30.yml)')
    arguments = ['train', '-opt', shown(OPTION_FILE, workdir)]
    force_yml = setting.force_yml()
    with open(OPTION_FILE, 'rb') as f:
        value = fingerprint('train', f.read(), force_yml, upstream)
    experiment = osp.join(workdir, 'experiments', setting.name)
    latest = osp.join(experiment, 'models', 'net_g_latest.pth')
    same = stamps.matches('train', value)
    state = newest_training_state(osp.join(experiment, 'training_states')) if same and not retrain else None
    if same and not retrain and osp.isfile(latest):
        say(f'reusing the complete model {shown(latest)} (training started {stamps.read("train").get("time", "?")} '
            'with the same options and data); pass --retrain to train again')
        return latest
    if state is not None:
        say(f'an earlier run stopped after its checkpoint {shown(state)}: continuing it (--auto_resume); pass '
            '--retrain to start over')
        arguments.append('--auto_resume')
    else:
        if retrain:
            reason = '--retrain'
        elif not stamps.read('train'):
            reason = (f'there is no record of what the last run was trained on ({shown(stamps.path("train"))}), so '
                      'training starts again')
        elif not same:
            reason = 'the option file or the data differ from those of the last run, so training starts again'
        elif not osp.isdir(experiment):
            reason = f'{shown(experiment)} is missing, so training starts again'
        else:
            reason = 'the last run stopped before its first checkpoint, so training starts again'
        archive_run(workdir, setting.name, reason)
        stamps.write('train', value)  # the inputs of the run in experiments/<name>, so that an interruption resumes
    if force_yml:
        arguments += ['--force_yml'] + force_yml
    say(f'$ cd {shown(workdir)} && basicsr {" ".join(arguments)}')
    say(f'BasicSR\'s log follows (also in {shown(experiment)}/train_*.log); TensorBoard: tensorboard --logdir '
        f'{shown(osp.join(workdir, "tb_logger"))}')
    before = archived_folders(workdir, setting.name)
    status = subprocess.call(basicsr_command() + arguments, cwd=workdir)
    for folder in sorted(archived_folders(workdir, setting.name) - before):
        say(f'note: BasicSR kept an earlier folder as {shown(folder)}')
    if status != 0:
        raise InputError(f'basicsr train failed (exit status {status}); see its messages above.')
    if not osp.isfile(latest):
        raise InputError(f'basicsr train ended without writing {latest!r}.')
    return latest


def step_restore(setting, workdir, stamps, upstream, model, noisy):
    banner(6, 'Restoring the held-out noisy image with the trained model (scripts/inference_rnan.py)')
    output = osp.join(workdir, 'results', setting.name, 'restored')
    return tool_step(stamps, 'restore', fingerprint('restore', upstream, file_fingerprint(model)), output, inference,
                     'inference_rnan.py', 'run',
                     ['--task', 'dn_rgb', '--model_path', model, '--input', noisy, '--output', output],
                     overwrite=False)[1]


def step_evaluate(setting, workdir, restored, clean, noisy):
    banner(7, 'PSNR / SSIM and the side-by-side picture (scripts/evaluate.py)')
    output = osp.join(workdir, 'results', setting.name)
    gt, lq = (read_image(osp.join(folder, f'{setting.held_out[0]}.png')) for folder in (clean, noisy))
    height, width = gt.shape[:2]
    results = run_tool(evaluate, 'evaluate.py', 'run',
                       ['--task', 'dn_rgb', '--restored', restored, '--gt', clean, '--lq', noisy, '--dataset',
                        'HeldOut', '--level', f'sigma={SIGMA}', '--crop', str(max(height, width)), '--out', output])
    return results[0].records[0], evaluate.score(lq, gt, 'dn_rgb', 1), osp.join(output, 'strip.png'), (width, height)


def quickstart(args):
    start = time.time()
    setting = Setting(args.tiny)
    workdir = osp.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    stamps = Stamps(workdir)
    print(f'RNAN quickstart{" (miniature: --tiny)" if args.tiny else ""}: colour denoising, sigma {SIGMA}, on the '
          f'CPU; everything goes to {shown(workdir)}/', flush=True)

    samples, folders = step_samples(setting, workdir, stamps)
    subimages, sub_folder = step_subimages(setting, workdir, stamps, samples['train'], folders['train'])
    lmdb, _ = step_lmdb(setting, workdir, stamps, subimages, sub_folder)
    noisy_value, noisy = step_noisy(setting, workdir, stamps, samples['val'], folders['val'])
    model = step_training(setting, workdir, stamps, [lmdb, samples['val'], noisy_value], args.retrain)
    restored = step_restore(setting, workdir, stamps, noisy_value, model, noisy)
    record, (lq_psnr, lq_ssim), picture, (width, height) = step_evaluate(setting, workdir, restored, folders['val'],
                                                                         noisy)

    restored_psnr, restored_ssim = record.psnr, record.ssim
    elapsed = time.time() - start
    print('\n' + '=' * 100)
    print(f'Held-out image {setting.held_out[0]} ({width}x{height}, not seen in training), Gaussian noise sigma '
          f'{SIGMA}; PSNR / SSIM on RGB (BasicSR calculate_psnr / calculate_ssim):')
    print(f'  noisy input:   PSNR {lq_psnr:.2f} dB, SSIM {lq_ssim:.4f}')
    gain = restored_psnr - lq_psnr
    print(f'  RNAN restored: PSNR {restored_psnr:.2f} dB, SSIM {restored_ssim:.4f}  ({gain:+.2f} dB)')
    print(f'Side by side (noisy | restored | clean): {shown(picture)}')
    inference = shown(osp.join(ROOT, 'scripts', 'inference_rnan.py'))
    print(f'Model: {shown(model)}  (your own noisy photos: python {inference} --task dn_rgb --model_path MODEL '
          '-i FOLDER -o OUT)')
    print(f'TensorBoard: tensorboard --logdir {shown(osp.join(workdir, "tb_logger"))}')
    print(f'Done in {elapsed:.1f} s.' if elapsed < 60 else f'Done in {int(elapsed // 60)} min {int(elapsed % 60)} s.')


def build_parser():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--workdir', default=osp.join(ROOT, 'quickstart_output'),
                        help='where everything is written (default: quickstart_output/ at the repository root)')
    parser.add_argument('--retrain', action='store_true',
                        help='train again even if a complete model exists (the previous run is kept, archived)')
    parser.add_argument('--tiny', action='store_true', help='the same steps in miniature, in seconds (for tests)')
    return parser


def main(argv=None):
    return run_main(PROG, quickstart, build_parser().parse_args(argv))
