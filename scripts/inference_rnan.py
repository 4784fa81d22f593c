"""Restore your own images with a trained or converted RNAN (see ``python scripts/inference_rnan.py --help``)."""
import sys

from rnan_basicsr.tools.inference import main

if __name__ == '__main__':
    sys.exit(main())
