"""Allow ``python -m rtui``."""

from __future__ import annotations

from rtui.cli.main import main

raise SystemExit(main())
