"""Benchmarks for rtui: real sshd, real kernels, all on loopback, all started and stopped here.

Run every benchmark with ``python -m benchmarks [--quick]`` from the repository root, or one
with ``python -m benchmarks.<name>`` (e.g. ``python -m benchmarks.roundtrip --samples 300``).

Benchmarks are not tests: they print figures (markdown) and exit 0 whatever the figures are.
They exit non-zero only when something crashed. Absolute times drift between runs and
machines; compare ratios (see ``MEASURED.md``). They need ``/usr/sbin/sshd`` and ``ssh``, like
the test suite, and use its sshd harness (``tests.harness.sshd``); ``startup`` drives the TUI
in ``tmux`` (its row says so when tmux is missing).
"""

import warnings

# asyncssh's DSA support warns at import under cryptography >= 45; rtui's own entry point keeps
# it off the terminal (rtui.core.logs), and the benchmarks' tables are spared it the same way.
warnings.filterwarnings("ignore", message="DSA is deprecated", category=UserWarning)
