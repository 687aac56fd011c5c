"""Far links: what each operation costs in round trips, through a link that delays every
chunk 50 ms each way.

``python -m benchmarks.farlink [--quick] [--runs N] [--only rtui]``

Everything runs against a real OpenSSH sshd on 127.0.0.1 behind the test harness's relay
(``tests/harness/relay.py``, in its own process: ``link``), whose one-way delay is set to
0 ms or to 50 ms between runs; every chunk is delayed on its own (pipelined, order kept),
as on a long cable. Each operation is timed at both delays, alternating which goes first
from run to run, after one warm-up at 0 ms; the round trips it spends are
``(p50 at 50 ms - p50 at 0 ms) / 100 ms``: what the far link costs, whatever the local
work (a kernel's own start, Python's imports) costs on both sides. The same from the fastest
run at each delay is shown next to it: a shared machine's load only adds time, so that one
moves less when the load does.

Operations, each as a person would run it from a shell or a terminal:

- ``ssh host true`` with OpenSSH (the reference: a login and one command);
- ``rtui check bench``; ``rtui run bench -k ID -c 1+1`` (a kernel started beforehand with
  ``rtui kernel start``); ``rtui run bench -c 1+1`` (starts a kernel, runs, shuts it down);
- in tmux (``benchmarks.consoles``' terminal): ``rtui``, Enter on the host once it is
  checked ``ok``, until the console shows "Connected to kernel" (the kernel's own start is
  in both figures, so not in the difference); then ``N+1`` Enter -> ``Out[k]: N+1`` on
  screen, and a typed character's echo in the editor;
- beside it, the same three for ``ssh -t host python -m IPython`` (everything crosses the
  link, the echo too) and for ``jupyter console --existing`` over ``ssh -N -L`` (the forward
  set up first, like the host checked first; a kernel started on the host beforehand), from
  the venv of ``benchmarks.consoles`` (``--only rtui`` skips these two).

Figures only, never a pass/fail: exit 0 whatever they are, non-zero only if an rtui
operation crashed (a peer's failure is shown in its row).
"""

from __future__ import annotations

from benchmarks.farlink.run import main

__all__ = ["main"]
