"""Make the paper's degraded test inputs from clean images (see ``--help`` and rnan_basicsr/tools/generate_lq.py)."""
import sys

from rnan_basicsr.tools.generate_lq import main

if __name__ == '__main__':
    sys.exit(main())
