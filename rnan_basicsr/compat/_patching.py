"""How the modules of :mod:`rnan_basicsr.compat` mark their patches, so that applying twice is a no-op."""
_PATCH_MARK = '_rnan_basicsr_patch'


def mark(func):
    setattr(func, _PATCH_MARK, True)
    return func


def is_patched(func):
    return getattr(func, _PATCH_MARK, False)
