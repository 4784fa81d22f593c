"""Convert an authors' RNAN checkpoint to BasicSR's format: see :mod:`rnan_basicsr.tools.convert_official`."""
import sys

from rnan_basicsr.tools.convert_official import main

if __name__ == '__main__':
    sys.exit(main())
