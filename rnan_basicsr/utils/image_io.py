"""Reading and writing the user's image files for the scripts, with errors that name the file; images are NumPy
arrays as OpenCV gives them, (H, W) grey or (H, W, 3) BGR, uint8 or uint16; writes are atomic (temporary file, rename).
"""
import contextlib
import cv2
import numpy as np
import os
import sys
from os import path as osp

from rnan_basicsr.utils.atomic import atomic_write
from rnan_basicsr.utils.errors import InputError

IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm', '.pnm')


def list_images(path, what='input'):
    """The image files a script is given: ``[path]`` for a file, else the images (:data:`IMG_EXTENSIONS`, any case)
    directly in the folder, sorted, hidden files and sub-folders skipped; refused: no such path, or no image files.
    A dataset root (recursive, meta_info, LMDB) is listed by :func:`rnan_basicsr.data.pairing.pair_images`."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise InputError(f'{what} {path!r} does not exist; give an image file or a folder of images.')
    files = sorted(
        osp.join(path, name) for name in os.listdir(path)
        if not name.startswith('.') and name.lower().endswith(IMG_EXTENSIONS) and osp.isfile(osp.join(path, name)))
    if not files:
        raise InputError(f'{what} folder {path!r} has no image files ({", ".join(IMG_EXTENSIONS)}).')
    return files


@contextlib.contextmanager
def _quiet_opencv():
    """Silence OpenCV's own log lines while decoding: our error message says what went wrong, in one line."""
    logging = getattr(getattr(cv2, 'utils', None), 'logging', None)
    if logging is None:
        yield
        return
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(level)


def decode_quietly(content, flags):
    """``cv2.imdecode`` of the bytes ``content`` (None if they do not decode) without a word on stderr: OpenCV's log
    is silenced and libpng's own messages ("libpng error: bad adaptive filter value") go to /dev/null. For
    single-threaded callers (a DataLoader worker, the pre-flight): another thread's stderr output would be lost."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, 'wb') as null, _quiet_opencv():
            os.dup2(null.fileno(), 2)
            return cv2.imdecode(np.frombuffer(content, np.uint8), flags)
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def check_readable(paths):
    """Raise an InputError naming the first file whose header OpenCV does not recognise (cheap: no decoding)."""
    with _quiet_opencv():
        for path in paths:
            if not cv2.haveImageReader(path):
                raise InputError(f'cannot read image {path!r}: OpenCV does not recognise its format (not an image, '
                                 'or empty).')


def read_image(path, keep_alpha=False, eight_bit=False):
    """An image file as OpenCV stores it: (H, W) or (H, W, 3) BGR, uint8 or uint16; alpha dropped, or kept with
    ``keep_alpha`` ((H, W, 4) BGRA, grey + alpha too); uint8 with ``eight_bit`` (16 bits reduced by
    ``IMREAD_ANYCOLOR``, as :func:`rnan_basicsr.data.data_util.decode_image`). Refused: not decodable, or an
    unsupported type / channel count."""
    with _quiet_opencv():
        img = cv2.imread(path, cv2.IMREAD_ANYCOLOR if eight_bit else cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f'cannot read image {path!r}: OpenCV cannot decode it (not an image, truncated, or an '
                         'unsupported format).')
    if img.dtype not in (np.uint8, np.uint16):
        raise InputError(f'image {path!r} has {img.dtype} pixels; only 8-bit and 16-bit images are supported.')
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    elif img.ndim == 3 and img.shape[2] == 4 and not keep_alpha:
        img = img[..., :3]
    elif img.ndim != 2 and not (img.ndim == 3 and img.shape[2] in (3, 4)):
        raise InputError(f'image {path!r} has shape {img.shape}; expected a grey or colour image.')
    return img


def is_grey(img):
    """True for a (H, W) image, or a (H, W, 3) one whose three channels are equal."""
    return img.ndim == 2 or (np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2]))


def to_float(img):
    """uint8 / uint16 image -> float32 in [0, 1]."""
    return img.astype(np.float32) / float(np.iinfo(img.dtype).max)


def from_float(img, dtype=np.uint8):
    """float image in about [0, 1] -> ``dtype`` (uint8 / uint16), clipped and rounded."""
    peak = float(np.iinfo(dtype).max)
    return np.round(np.clip(img, 0, 1) * peak).astype(dtype)


def write_image(path, img):
    """Write ``img`` to ``path`` atomically, in the format of its extension; refused: OpenCV cannot encode the image
    in that format, or the folder is not writable."""
    ext = osp.splitext(path)[1] or '.png'
    ok, data = cv2.imencode(ext, img)
    if not ok:
        raise InputError(f'cannot encode an image of shape {img.shape} and type {img.dtype} as {ext} for {path!r}.')
    _write(path, 'wb', data.tobytes())


def write_text(path, text):
    """Write a text file atomically (temporary file in the same folder, then rename)."""
    _write(path, 'w', text, encoding='utf-8', newline='')


def _write(path, mode, content, **open_kwargs):
    try:
        with atomic_write(path, mode, **open_kwargs) as f:
            f.write(content)
    except OSError as error:
        raise InputError(f'cannot write {path!r}: {error.strerror or error}.') from None
