"""``python -m benchmarks.consoles``: see the package's docstring."""

from __future__ import annotations

import sys

from benchmarks.consoles.run import main

if __name__ == "__main__":
    sys.exit(main())
