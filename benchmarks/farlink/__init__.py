"""Far links: what each operation costs in round trips, through a link that delays every
chunk 50 ms each way.

``python -m benchmarks.farlink [--quick] [--runs N] [--delay MS]``
``[--commands-only | --consoles-only] [--only rtui]``

Everything runs against a real OpenSSH sshd on 127.0.0.1 behind the test harness's relay
(``tests/harness/relay.py``, in its own process: ``link``), whose one-way delay is 0 ms or
50 ms (``--delay``); every chunk is delayed on its own (pipelined, order kept), as on a long
cable. The round trips an operation spends are ``(p50 at 50 ms - p50 at 0 ms) / 100 ms``:
what the far link costs, whatever the local work (a kernel's own start, Python's imports)
costs on both sides.

The commands run in pairs, after one warm-up each way: the same command through the far
link and, at the same time, through a second relay that is never delayed (host
``bench-near``, the same sshd), so both meet the same load on a shared machine (one that
ran 2x slower for minutes made sequential figures move by 10 round trips); the median of
the pairs' differences is shown next to the one from the medians. The consoles run one
session at a time, alternating the delay (which goes first changes from run to run) after
a warm-up session at 0 ms.

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
