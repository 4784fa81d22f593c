"""Cut large images into overlapping sub-images (see ``--help`` and rnan_basicsr/tools/extract_subimages.py)."""
import sys

# build_parser and extract: scripts/quickstart.py runs the step in its own process through them
from rnan_basicsr.tools.extract_subimages import build_parser, extract, main  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
