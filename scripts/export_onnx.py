"""Export an RNAN checkpoint to ONNX (dynamic height and width): see :mod:`rnan_basicsr.tools.export_onnx`."""
import sys

from rnan_basicsr.tools.export_onnx import main

if __name__ == '__main__':
    sys.exit(main())
