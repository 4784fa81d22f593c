"""Make the paper's degraded test inputs from clean images (see ``--help`` and rnan_basicsr/tools/generate_lq.py)."""
import sys

# build_parser and generate: scripts/quickstart.py runs the step in its own process through them
from rnan_basicsr.tools.generate_lq import build_parser, generate, main  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
