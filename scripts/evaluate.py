"""PSNR / SSIM tables, a strip and a browsable report.html of RNAN results: rnan_basicsr/tools/evaluate.py
(``python scripts/evaluate.py --help``)."""
import sys

from rnan_basicsr.tools.evaluate import main

if __name__ == '__main__':
    sys.exit(main())
