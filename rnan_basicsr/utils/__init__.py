from .errors import InputError

__all__ = ['InputError']
