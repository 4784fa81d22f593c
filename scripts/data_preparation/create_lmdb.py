"""Pack image folders into LMDBs with meta_info.txt (see ``--help`` and rnan_basicsr/tools/create_lmdb.py)."""
import sys

from rnan_basicsr.tools.create_lmdb import main

if __name__ == '__main__':
    sys.exit(main())
