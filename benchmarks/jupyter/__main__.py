"""``python -m benchmarks.jupyter``: see the package's docstring."""

from __future__ import annotations

import sys

from benchmarks.jupyter.run import main

if __name__ == "__main__":
    sys.exit(main())
