"""How the modules of :mod:`rnan_basicsr.compat` mark their patches, so that applying twice is a no-op."""
import inspect

# Marks a callable installed by this module, so that a second apply() sees the patch and does nothing.
_PATCH_MARK = '_rnan_basicsr_patch'


def mark(func):
    setattr(func, _PATCH_MARK, True)
    return func


def is_patched(func):
    return getattr(func, _PATCH_MARK, False)


def source_contains(func, *snippets):
    """True if the source of ``func`` contains any of ``snippets`` (a probe for a known defect)."""
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):  # no source on disk: assume the defect, our replacement is correct either way
        return True
    return any(snippet in source for snippet in snippets)
