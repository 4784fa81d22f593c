"""Finding, naming, pairing and decoding images on disk and in LMDBs, with errors that name the file and the fix.

Shared by the datasets and the data-preparation scripts so that both see the same images under the same names.

Every image has a **key**: its path relative to the data root, without extension, with ``/`` separators
(``DIV2K_train_HR/0001.png`` -> ``0001``; ``sub/kodim01.png`` -> ``sub/kodim01``). ``create_lmdb.py`` uses it as the
LMDB key, LQ images are paired with GT images by it, and the per-image seed of reproducible degradations is derived
from it, so a folder, its LMDB and the inputs ``generate_lq.py`` makes from it all agree.
"""
import cv2
import numpy as np
import os
import re
import struct
from os import path as osp

from rnan_basicsr.data.degradations import to_gray, y_channel
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.image_io import IMG_EXTENSIONS
from rnan_basicsr.utils.validation import is_lmdb

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# A line of BasicSR's meta_info.txt: "<name> (<h>,<w>,<c>) <compression level>"; only the name is required.
_META_LINE = re.compile(r'^(?P<name>.+?)(?: \((?P<h>\d+), ?(?P<w>\d+), ?(?P<c>\d+)\))?(?: \d+)?$')


def scan_images(folder):
    """Relative paths (``/`` separators) of the images under ``folder``, recursively, sorted.

    Images are files with an extension in :data:`IMG_EXTENSIONS` (any case); hidden files and folders (names
    starting with ``.``) are skipped. BasicSR's ``scandir(recursive=True)`` is not used because it fails on hidden
    files such as ``.DS_Store``.
    """
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith('.')]
        for name in files:
            if not name.startswith('.') and name.lower().endswith(IMG_EXTENSIONS):
                found.append(osp.relpath(osp.join(root, name), folder).replace(os.sep, '/'))
    return sorted(found)


def image_key(rel_path):
    """The key of an image: its relative path without extension, with ``/`` separators."""
    return osp.splitext(rel_path.replace(os.sep, '/'))[0]


def keys_of_folder(folder, what):
    """Map key -> relative path for every image under ``folder``.

    Args:
        folder (str): an existing folder.
        what (str): how to name the folder in errors, e.g. ``"datasets.train (DIV2K): dataroot_gt"``.

    Raises:
        InputError: the folder holds no image, or two images have the same key (``a.png`` and ``a.jpg``).
    """
    rel_paths = scan_images(folder)
    if not rel_paths:
        raise InputError(f'{what} {folder!r} contains no images ({", ".join(IMG_EXTENSIONS)}; searched '
                         'recursively). Check the path, or put the images there.')
    keys = {}
    for rel_path in rel_paths:
        key = image_key(rel_path)
        if key in keys:
            raise InputError(f'{what} {folder!r}: {keys[key]!r} and {rel_path!r} have the same name {key!r} '
                             'without extension, so they cannot be told apart (as LQ/GT partners, LMDB keys or '
                             'output names). Rename or remove one of them.')
        keys[key] = rel_path
    return keys


def read_meta_info(meta_path, what):
    """Parse a BasicSR meta_info file: one ``<name> [(<h>,<w>,<c>)] [<compression>]`` line per image.

    Returns:
        list[tuple[str, tuple[int, int, int] | None]]: (name, shape) per non-empty line, in file order; ``shape``
        is None when the line has none.

    Raises:
        InputError: the file is missing, unreadable or empty, or a name appears twice.
    """
    if not osp.isfile(meta_path):
        raise InputError(f'{what}: meta_info file {meta_path!r} does not exist.')
    try:
        with open(meta_path, encoding='utf-8') as f:
            lines = [line.strip() for line in f]
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f'{what}: cannot read meta_info file {meta_path!r}: {error}') from None
    entries, seen = [], set()
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        match = _META_LINE.match(line)
        name = match.group('name')
        if name in seen:
            raise InputError(f'{what}: {meta_path!r} line {number} lists {name!r} a second time; each image may '
                             'appear once. Regenerate the file (create_lmdb.py writes it).')
        seen.add(name)
        shape = tuple(int(match.group(k)) for k in 'hwc') if match.group('h') else None
        entries.append((name, shape))
    if not entries:
        raise InputError(f'{what}: meta_info file {meta_path!r} lists no images.')
    return entries


def lmdb_keys(lmdb_path, what):
    """Map key -> (h, w) (or None) for the images of an LMDB, from its meta_info.txt; checks the keys exist.

    Keys are read as BasicSR's ``paths_from_lmdb`` reads them (the name up to its first ``.``), so an LMDB works the
    same in BasicSR's own datasets.

    Raises:
        InputError: no LMDB there, no meta_info.txt, or meta_info lists a key the LMDB does not hold.
    """
    import lmdb

    if not osp.isdir(lmdb_path) or not is_lmdb(lmdb_path):
        raise InputError(f'{what} {lmdb_path!r} is not an LMDB (a folder with data.mdb and meta_info.txt). Make one '
                         'with scripts/data_preparation/create_lmdb.py, or use io_backend: {type: disk} for a '
                         'folder of images.')
    meta_path = osp.join(lmdb_path, 'meta_info.txt')
    if not osp.isfile(meta_path):
        raise InputError(f'{what} {lmdb_path!r} has no meta_info.txt, so its image keys are unknown. Rebuild the '
                         'LMDB with scripts/data_preparation/create_lmdb.py, which always writes it.')
    keys = {}
    for name, shape in read_meta_info(meta_path, f'{what} {lmdb_path!r}'):
        key = name.split('.')[0]
        if not key.isascii():
            raise InputError(f'{what} {lmdb_path!r}: key {key!r} in meta_info.txt is not ASCII; BasicSR reads LMDB '
                             'keys as ASCII. Rebuild the LMDB with scripts/data_preparation/create_lmdb.py.')
        keys[key] = shape[:2] if shape else None
    try:
        env = lmdb.open(lmdb_path, readonly=True, lock=False, readahead=False)
    except lmdb.Error as error:
        if 'already open' in str(error):  # being read by another dataset in this process: it was checked then
            return keys
        raise InputError(f'{what} {lmdb_path!r} cannot be opened as an LMDB: {error}') from None
    try:
        with env.begin(write=False) as txn:
            cursor = txn.cursor()
            for key in keys:
                if not cursor.set_key(key.encode('utf-8')):
                    raise InputError(f'{what} {lmdb_path!r}: key {key!r} is listed in meta_info.txt but the LMDB '
                                     'does not hold it (an incomplete or mismatched LMDB). Rebuild it with '
                                     'scripts/data_preparation/create_lmdb.py.')
    finally:
        env.close()
    return keys


def image_size(path):
    """(height, width) of an image file from its header, without decoding the pixels.

    Raises:
        InputError: the file is missing or is not a readable image.
    """
    try:
        with open(path, 'rb') as f:
            head = f.read(24)
    except OSError as error:
        raise InputError(f'cannot read image {path!r}: {error.strerror or error}') from None
    if head[:8] == _PNG_SIGNATURE and head[12:16] == b'IHDR':
        width, height = struct.unpack('>II', head[16:24])
        return height, width
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as img:
            width, height = img.size
        return height, width
    except (UnidentifiedImageError, OSError, ValueError):
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)  # formats Pillow does not know
        if img is None:
            raise InputError(f'{path!r} is not a readable image (corrupt, truncated or not an image); replace or '
                             'remove it.') from None
        return img.shape[:2]


def decode_image(content, where):
    """Decode image bytes to uint8: (H, W) for a grey image, (H, W, 3) BGR for a colour one.

    Alpha is dropped and 16-bit images are converted to 8 bits (OpenCV's ``IMREAD_ANYCOLOR``).

    Raises:
        InputError: no bytes (missing file or LMDB key), or bytes that do not decode; ``where`` names the image.
    """
    if content is None:
        raise InputError(f'image {where} is missing (an LMDB key that the LMDB does not hold?). Rebuild the data '
                         'with scripts/data_preparation/create_lmdb.py.')
    img = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_ANYCOLOR)
    if img is None:
        raise InputError(f'image {where} cannot be decoded (corrupt, truncated or not an image); replace or remove '
                         'it.')
    return img


CHANNEL_MODES = ('color', 'gray', 'y')


def convert_channels(img, mode):
    """Bring a decoded image to a task's channels; the result is always (H, W, C) uint8.

    Args:
        img (ndarray): uint8, (H, W) or (H, W, 1) grey, or (H, W, 3) BGR (as :func:`decode_image` returns).
        mode (str): ``'color'``: (H, W, 3) BGR, a grey image gets three equal channels (as OpenCV's
            ``IMREAD_COLOR``); ``'gray'``: (H, W, 1) by :func:`~rnan_basicsr.data.degradations.to_gray`;
            ``'y'``: (H, W, 1) by :func:`~rnan_basicsr.data.degradations.y_channel` (grey images as they are).
    """
    if mode == 'gray':
        img = to_gray(img)
    elif mode == 'y':
        img = y_channel(img)
    elif mode == 'color':
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        elif img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
    else:
        raise ValueError(f'mode must be one of {CHANNEL_MODES}, got {mode!r}')
    return img if img.ndim == 3 else img[..., None]
