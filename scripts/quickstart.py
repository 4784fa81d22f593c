"""Quickstart: watch RNAN learn colour denoising on the CPU (see :mod:`rnan_basicsr.tools.quickstart`)."""
import sys

from rnan_basicsr.tools.quickstart import main

if __name__ == '__main__':
    sys.exit(main())
