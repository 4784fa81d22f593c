"""Pack image folders into LMDBs with meta_info.txt (see ``--help`` and rnan_basicsr/tools/create_lmdb.py)."""
import sys

# build_parser and create: scripts/quickstart.py runs the step in its own process through them
from rnan_basicsr.tools.create_lmdb import build_parser, create, main  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
