import sys

from rnan_basicsr.cli import main

sys.exit(main())
