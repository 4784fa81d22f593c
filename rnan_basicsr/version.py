__version__ = '0.1.0'

#: The BasicSR releases this plugin supports, as a PEP 440 specifier. setup.py reads it (without importing the
#: package) into ``install_requires`` and :mod:`rnan_basicsr.compat` refuses any other BasicSR at import, so pip and
#: the import check cannot disagree. 1.4.2 is the last release; a 1.5 may change what ``compat`` wraps.
BASICSR_SPECIFIER = '>=1.4.2,<1.5'
