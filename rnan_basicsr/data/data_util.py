"""Finding, naming and decoding images on disk and in LMDBs, for the datasets and the data-preparation scripts alike.

An image's **key** is its path relative to the data root without extension, with ``/`` separators
(``sub/kodim01.png`` -> ``sub/kodim01``): the LMDB key, the LQ/GT pairing name and the per-image seed all use it.
"""
import cv2
import os
import re
import struct
from os import path as osp

from rnan_basicsr.data.degradations import to_gray, y_channel
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.image_io import IMG_EXTENSIONS, decode_quietly
from rnan_basicsr.utils.validation import is_lmdb

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
#: how a whole PNG ends: its IEND chunk (length 0, type, CRC)
_PNG_END = b'\x00\x00\x00\x00IEND\xaeB`\x82'
_LMDB_MAGIC = 0xBEEFC0DE
_REBUILD_LMDB = 'Rebuild it with scripts/data_preparation/create_lmdb.py (or copy it again whole).'
# A line of BasicSR's meta_info.txt: "<name> (<h>,<w>,<c>) <compression level>"; only the name is required.
_META_LINE = re.compile(r'^(?P<name>.+?)(?: \((?P<h>\d+), ?(?P<w>\d+), ?(?P<c>\d+)\))?(?: \d+)?$')


def scan_images(folder):
    """Sorted relative paths (``/`` separators) of the images (:data:`IMG_EXTENSIONS`, any case) under ``folder``,
    recursively, hidden files and folders skipped (BasicSR's ``scandir(recursive=True)`` fails on a ``.DS_Store``)."""
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
    """Key -> relative path of every image under the existing ``folder``; ``what`` names it in errors (e.g.
    ``"datasets.train (DIV2K): dataroot_gt"``). Refused: no image, or two with one key (``a.png`` and ``a.jpg``)."""
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
    """(name, (h, w, c) or None) per non-empty line of a BasicSR meta_info file, in file order; refused: a missing,
    unreadable or empty file, or a name listed twice."""
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


def check_lmdb(lmdb_path, what):
    """Refuse an LMDB whose ``data.mdb`` is shorter than the pages it says it uses (an interrupted copy, a full disk),
    before anything maps it: reading it would end the process with SIGBUS. ``data.mdb`` starts with two meta pages
    (``MDB_meta`` after a 16-byte page header: magic, version, ..., the page size in the free database's ``md_pad``,
    ``mm_last_pg``, ``mm_txnid``); the file must hold pages 0..``mm_last_pg`` of the one with the higher txnid."""
    data_path = osp.join(lmdb_path, 'data.mdb')
    try:
        with open(data_path, 'rb') as f:
            size = os.fstat(f.fileno()).st_size
            first = f.read(152)
            page = struct.unpack_from('=I', first, 40)[0] if len(first) == 152 else 0
            f.seek(page)
            metas = [first, f.read(152)]
    except OSError as error:
        raise InputError(f'{what} {lmdb_path!r}: cannot read {data_path!r}: {error.strerror or error}.') from None
    if page < 512 or any(len(meta) < 152 or struct.unpack_from('=I', meta, 16)[0] != _LMDB_MAGIC for meta in metas):
        raise InputError(f'{what} {lmdb_path!r}: {data_path!r} ({size} bytes) does not start with the two meta '
                         f'pages of an LMDB (truncated, damaged or not an LMDB). {_REBUILD_LMDB}')
    last_page, _ = max((struct.unpack_from('=QQ', meta, 136) for meta in metas), key=lambda pair: pair[1])
    needed = (last_page + 1) * page
    if size < needed:
        raise InputError(f'{what} {lmdb_path!r}: {data_path!r} is {size} bytes but the LMDB uses {needed} '
                         f'({last_page + 1} pages of {page}): the file is truncated (an interrupted copy, a full '
                         f'disk?). {_REBUILD_LMDB}')


def lmdb_keys(lmdb_path, what):
    """Key -> (h, w) or None of the images of an LMDB, from its meta_info.txt, keys read as BasicSR's
    ``paths_from_lmdb`` reads them (the name up to its first ``.``). Refused: no LMDB, a truncated one
    (:func:`check_lmdb`), no meta_info.txt, a non-ASCII key, or a key the LMDB does not hold."""
    import lmdb

    if not is_lmdb(lmdb_path):
        raise InputError(f'{what} {lmdb_path!r} is not an LMDB (a folder with data.mdb and meta_info.txt). Make one '
                         'with scripts/data_preparation/create_lmdb.py, or use io_backend: {type: disk} for a '
                         'folder of images.')
    check_lmdb(lmdb_path, what)
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
        raise InputError(f'{what} {lmdb_path!r} cannot be opened as an LMDB: {error}. {_REBUILD_LMDB}') from None
    try:
        with env.begin(write=False) as txn:
            cursor = txn.cursor()
            for key in keys:
                if not cursor.set_key(key.encode('utf-8')):
                    raise InputError(f'{what} {lmdb_path!r}: key {key!r} is listed in meta_info.txt but the LMDB '
                                     'does not hold it (an incomplete or mismatched LMDB). Rebuild it with '
                                     'scripts/data_preparation/create_lmdb.py.')
    except lmdb.Error as error:  # a damaged page (MDB_CORRUPTED, MDB_PAGE_NOTFOUND...)
        raise InputError(f'{what} {lmdb_path!r} cannot be read as an LMDB: {error}. {_REBUILD_LMDB}') from None
    finally:
        env.close()
    return keys


def _why_cut_short(head, tail, size):
    """Why an image file's first bytes ``head``, last bytes ``tail`` and ``size`` show it cut short where its format
    says how it ends (PNG: IEND; JPEG: FF D9, zero padding after it allowed; BMP, WebP: the size in the header);
    None if they do not (other formats are not checked)."""
    if head[:8] == _PNG_SIGNATURE and not tail.endswith(_PNG_END):
        return 'it does not end with the IEND chunk every PNG ends with'
    if head[:2] == b'\xff\xd8' and not tail.rstrip(b'\x00').endswith(b'\xff\xd9'):
        return 'it does not end with the end-of-image marker (FF D9) every JPEG ends with'
    declared = None
    if head[:2] == b'BM':
        declared = struct.unpack_from('<I', head, 2)[0]
    elif head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        declared = 8 + struct.unpack_from('<I', head, 4)[0]
    if declared is not None and size < declared:
        return f'it is {size} bytes but its header says {declared}'
    return None


def check_whole(path):
    """The first 24 bytes of the image file ``path``; refused: unreadable, or cut short (:func:`_why_cut_short`)
    and not decodable as the datasets decode it (so bytes after the end marker are accepted)."""
    try:
        with open(path, 'rb') as f:
            head = f.read(24)
            size = f.seek(0, os.SEEK_END)
            f.seek(max(size - 16, 0))
            why = _why_cut_short(head, f.read(), size)
            if why is not None:
                f.seek(0)
                content = f.read()
    except OSError as error:
        raise InputError(f'cannot read image {path!r}: {error.strerror or error}') from None
    if why is not None and decode_quietly(content, cv2.IMREAD_ANYCOLOR) is None:
        raise InputError(f'image {path!r} is truncated or damaged: {why}, and it does not decode. Copy it again, '
                         'or remove it.')
    return head


def image_size(path):
    """(height, width) of an image file from its header, without decoding the pixels; refused: missing, not an
    image, or truncated (:func:`check_whole`), so that a damaged image is refused before a run."""
    head = check_whole(path)
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
    """Image bytes -> uint8 (H, W) grey or (H, W, 3) BGR, alpha dropped, 16 bits reduced (``IMREAD_ANYCOLOR``).
    Refused, naming the image by ``where``: no bytes (a key the LMDB lacks), or bytes that do not decode."""
    if content is None:
        raise InputError(f'image {where} is missing (an LMDB key that the LMDB does not hold?). Rebuild the data '
                         'with scripts/data_preparation/create_lmdb.py.')
    img = decode_quietly(content, cv2.IMREAD_ANYCOLOR)
    if img is None:
        raise InputError(f'image {where} cannot be decoded (corrupt, truncated or not an image); replace or remove '
                         'it.')
    return img


def convert_channels(img, mode):
    """A decoded uint8 image ((H, W) or (H, W, 1) grey, (H, W, 3) BGR) -> (H, W, C) uint8 in a task's channels:
    ``'gray'`` (:func:`~rnan_basicsr.data.degradations.to_gray`), ``'y'``
    (:func:`~rnan_basicsr.data.degradations.y_channel`) or ``'color'`` (BGR; a grey image gets three equal channels,
    as OpenCV's ``IMREAD_COLOR``). The modes are the datasets' ``channels`` and generate_lq.py's table."""
    if mode == 'gray':
        img = to_gray(img)
    elif mode == 'y':
        img = y_channel(img)
    elif img.ndim == 2 or img.shape[2] == 1:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img if img.ndim == 3 else img[..., None]
