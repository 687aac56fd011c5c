"""``python -m benchmarks.slurm``: see the package's docstring."""

from __future__ import annotations

import sys

from benchmarks.slurm.run import main

if __name__ == "__main__":
    sys.exit(main())
