"""Cut large images into overlapping sub-images (see ``--help`` and rnan_basicsr/tools/extract_subimages.py)."""
import sys

from rnan_basicsr.tools.extract_subimages import main

if __name__ == '__main__':
    sys.exit(main())
