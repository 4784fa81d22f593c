"""How the modules of :mod:`rnan_basicsr.compat` mark their patches, so that applying twice is a no-op."""
# Marks a callable installed by this module, so that a second apply() sees the patch and does nothing.
_PATCH_MARK = '_rnan_basicsr_patch'


def mark(func):
    setattr(func, _PATCH_MARK, True)
    return func


def is_patched(func):
    return getattr(func, _PATCH_MARK, False)
