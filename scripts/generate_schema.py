"""Write options/rnan_options.schema.json and docs/options.md: see :mod:`rnan_basicsr.tools.generate_schema`."""
import sys

from rnan_basicsr.tools.generate_schema import main

if __name__ == '__main__':
    sys.exit(main())
