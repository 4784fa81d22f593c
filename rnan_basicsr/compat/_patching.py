"""How the modules of :mod:`rnan_basicsr.compat` install their patches, so that applying twice is a no-op."""
_PATCH_MARK = '_rnan_basicsr_patch'


def replace(owner, name, replacement):
    """Set ``owner.<name>`` to ``replacement``, marked as ours, unless a patch of ours is there: True if it patched."""
    if getattr(getattr(owner, name), _PATCH_MARK, False):
        return False
    setattr(replacement, _PATCH_MARK, True)
    setattr(owner, name, replacement)
    return True
