"""BasicSR's PSNR / SSIM against the authors' Matlab protocol, measured on images: rnan_basicsr/tools/
compare_metrics.py (``python scripts/compare_metrics.py --help``)."""
import sys

from rnan_basicsr.tools.compare_metrics import main

if __name__ == '__main__':
    sys.exit(main())
