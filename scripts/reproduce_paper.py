"""Reproduce one task's table of the RNAN paper (ours, the paper's, the difference; optionally the authors' chop):
rnan_basicsr/tools/reproduce_paper.py (``python scripts/reproduce_paper.py --help``)."""
import sys

from rnan_basicsr.tools.reproduce_paper import main

if __name__ == '__main__':
    sys.exit(main())
