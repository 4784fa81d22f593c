"""Write the option files of the experiments of the RNAN paper: see :mod:`rnan_basicsr.tools.generate_options`."""
import sys

from rnan_basicsr.tools.generate_options import main

if __name__ == '__main__':
    sys.exit(main())
