"""Pack image folders into LMDBs (with meta_info.txt) for BasicSR's and rnan_basicsr's datasets.

    python scripts/data_preparation/create_lmdb.py --input datasets/DIV2K/DIV2K_train_HR_sub \
        --output datasets/DIV2K/DIV2K_train_HR_sub.lmdb
    python scripts/data_preparation/create_lmdb.py \
        --input datasets/DIV2K/DIV2K_train_HR_sub datasets/DIV2K/DIV2K_train_LR_bicubic/X4_sub \
        --output datasets/DIV2K/DIV2K_train_HR_sub.lmdb datasets/DIV2K/DIV2K_train_LR_bicubic_X4_sub.lmdb

Each --input folder (searched recursively) becomes the LMDB at the same position in --output, in the layout of
BasicSR's ``basicsr.utils.lmdb_util`` (PNG bytes under the path relative to the folder without extension, listed in
meta_info.txt as ``<key>.png (<h>,<w>,<c>) <compress level>``). The keys, the names refused, the map size and the
temporary name: docs/data.md.
"""
import argparse
import cv2
import lmdb
import math
import shutil
import struct
import sys
from os import path as osp

import rnan_basicsr  # noqa: F401  (compatibility patches; must come before any basicsr import)

# isort: split
from basicsr.utils.lmdb_util import LmdbMaker, read_img_worker

from rnan_basicsr.data.data_util import image_size, keys_of_folder
from rnan_basicsr.utils.errors import InputError, RunError
from rnan_basicsr.utils.script_util import (add_thread_argument, check_new_output_folder, parallel_map, run_main,
                                            staged_folder)

PAGE = 4096
# bytes per pixel as cv2.IMREAD_UNCHANGED decodes an image, by Pillow mode (a palette may expand to BGRA)
_PIL_BYTES_PER_PIXEL = {'1': 1, 'L': 1, 'P': 4, 'LA': 4, 'RGB': 3, 'YCbCr': 3, 'RGBA': 4, 'CMYK': 4, 'I;16': 2}
# bytes per pixel of a PNG by IHDR colour type, for 8-bit samples (x2 for 16-bit)
_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 4, 6: 4}


def decoded_size_bound(path):
    """An upper bound of the bytes of the image as OpenCV decodes it (IMREAD_UNCHANGED), from its header."""
    height, width = image_size(path)
    with open(path, 'rb') as f:
        head = f.read(26)
    if head[:8] == b'\x89PNG\r\n\x1a\n' and len(head) == 26:
        bit_depth, colour_type = struct.unpack('>BB', head[24:26])
        per_pixel = _PNG_CHANNELS.get(colour_type, 4) * (2 if bit_depth == 16 else 1)
    else:
        from PIL import Image
        try:
            with Image.open(path) as img:
                per_pixel = _PIL_BYTES_PER_PIXEL.get(img.mode, 8)
        except Exception:  # noqa: B902 - formats only OpenCV reads: assume the widest layout
            per_pixel = 8
    return height * width * per_pixel, height


def map_size_for(paths_and_keys):
    """LMDB map size for storing these images as PNG: a bound of each PNG in whole pages, plus B-tree slack.

    A PNG is at most the raw bytes plus one filter byte per row, deflate's stored-block overhead (zlib's
    deflateBound) and chunk headers; each value over a page takes whole overflow pages.
    """
    total = 0
    for path, key in paths_and_keys:
        raw, rows = decoded_size_bound(path)
        filtered = raw + rows
        png = filtered + (filtered >> 12) + (filtered >> 14) + 12 * (filtered // 8192 + 1) + 1024
        total += (math.ceil((png + 64) / PAGE) + 1) * PAGE + 2 * (len(key) + 64)
    return int(total * 1.1) + 16 * 1024 * 1024


def check_key(key, rel_path, folder):
    if not key.isascii():
        raise InputError(f'{osp.join(folder, rel_path)!r}: LMDB keys must be ASCII (BasicSR reads them as ASCII), '
                         f'but its key {key!r} is not. Rename the file or folder.')
    if '.' in key:
        raise InputError(f'{osp.join(folder, rel_path)!r}: its key {key!r} contains a ".", but BasicSR reads an LMDB '
                         'key from meta_info.txt up to the first "." (paths_from_lmdb), so the image could not be '
                         'found. Rename the file or folder without dots (besides the extension).')


def build_lmdb(folder, lmdb_path, args, desc):
    """Write every image of ``folder`` into ``lmdb_path`` (a temporary path that does not exist yet)."""
    files = keys_of_folder(folder, '--input')
    for key, rel_path in files.items():
        check_key(key, rel_path, folder)
    items = [(osp.join(folder, files[key]), key) for key in sorted(files)]
    map_size = map_size_for(items)
    for attempt in range(4):
        try:
            _write(lmdb_path, items, map_size, args, desc)
            return len(items), map_size
        except lmdb.MapFullError:  # the bound is an upper bound; this is a safety net for exotic formats
            map_size *= 2
            print(f'LMDB map size too small; retrying with {map_size / 2**20:.1f} MiB')
            shutil.rmtree(lmdb_path, ignore_errors=True)
    raise RuntimeError(f'could not fit the images of {folder!r} into an LMDB of {map_size} bytes')


def _encode(item, compress_level):
    path, key = item
    try:
        return read_img_worker(path, key, compress_level)
    except (AttributeError, cv2.error):  # cv2.imread returned None: not decodable
        raise InputError(f'{path!r} is not a readable image (corrupt, truncated or not an image); replace or remove '
                         'it.') from None


def _write(lmdb_path, items, map_size, args, desc):
    maker = LmdbMaker(lmdb_path, map_size=map_size, batch=args.batch, compress_level=args.compress_level)
    try:
        for key, img_byte, shape in parallel_map(lambda item: _encode(item, args.compress_level), items,
                                                 args.n_thread, desc):
            maker.put(img_byte, key, shape)
    except BaseException:
        maker.txn.abort()
        maker.env.close()
        maker.txt_file.close()
        raise
    maker.close()


def _write_limits(folder):
    """What may have stopped LMDB's writes in ``folder`` (it reports a full disk or a file-size limit as an
    "Input/output error"): the free space there and ``ulimit -f``."""
    limits = f'{shutil.disk_usage(folder).free / 2**20:.1f} MiB free there'
    if sys.platform != 'win32':
        import resource
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY:
            limits += f', file-size limit {limit} bytes (ulimit -f)'
    return limits


def create(args):
    if len(args.input) != len(args.output):
        raise InputError(f'give one --output per --input: got {len(args.input)} inputs and {len(args.output)} '
                         'outputs.')
    if args.n_thread < 1 or args.batch < 1 or not 0 <= args.compress_level <= 9:
        raise InputError('--n_thread and --batch must be >= 1 and --compress_level in 0..9.')
    if len({osp.realpath(p) for p in args.output}) != len(args.output):
        raise InputError('the --output paths must be different.')
    for folder, output in zip(args.input, args.output):
        if not osp.isdir(folder):
            raise InputError(f'--input {folder!r} is not a folder of images.')
        if not output.rstrip('/').endswith('.lmdb'):
            raise InputError(f'--output {output!r} must end with .lmdb (BasicSR\'s convention for LMDB folders).')
        check_new_output_folder(output, args.overwrite, inputs=args.input, flag='--output')
    for folder, output in zip(args.input, args.output):
        with staged_folder(output.rstrip('/'), args.overwrite, suffix='.lmdb') as tmp:
            try:
                count, map_size = build_lmdb(folder, tmp, args, desc=osp.basename(output.rstrip('/')))
            except (lmdb.Error, OSError) as error:  # a full disk, a file-size limit: the temporary LMDB is removed
                parent = osp.dirname(tmp)
                raise RunError(f'cannot write the LMDB {output!r} (in {parent!r}: {_write_limits(parent)}): '
                               f'{getattr(error, "strerror", None) or error}. Nothing of it was kept; free space (or '
                               'raise the file-size limit) and run again.', path=output) from None
        print(f'{output}: {count} images, map size {map_size / 2**20:.1f} MiB, meta_info.txt written')


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', nargs='+', required=True, metavar='DIR', help='image folder(s)')
    parser.add_argument('--output', nargs='+', required=True, metavar='LMDB', help='LMDB path(s) ending in .lmdb')
    parser.add_argument('--compress_level', type=int, default=1,
                        help='PNG compression level 0-9 of the stored images (default 1, as BasicSR)')
    parser.add_argument('--batch', type=int, default=5000, help='images per LMDB transaction (default 5000)')
    parser.add_argument('--overwrite', action='store_true', help='replace existing LMDBs')
    add_thread_argument(parser)
    return parser


def main(argv=None):
    return run_main('create_lmdb.py', create, build_parser().parse_args(argv))
