"""Benchmark RNAN (speed, memory, precision switches, data pipeline); see rnan_basicsr/tools/benchmark/."""
import sys

from rnan_basicsr.tools.benchmark.cli import main

if __name__ == '__main__':
    sys.exit(main())
