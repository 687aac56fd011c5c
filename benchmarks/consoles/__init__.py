"""Terminal consoles side by side: rtui, jupyter console, euporie-console, driven in tmux.

``python -m benchmarks.consoles [--quick] [--peers-venv PATH] [--only NAME ...]``

Reproduces the "Terminal consoles a user would pick instead" table of MEASURED.md with rtui
added. Each console runs in its own tmux server (``-L`` socket, one 120x36 pane, no status
line), with its own local kernel and a throwaway HOME/XDG dirs, and is driven exactly as a
person would: keys go in with ``send-keys``, the screen is read with ``capture-pane`` through
a tmux control-mode client (no process spawned per read): every 5 ms, and while ``N+1`` is
timed, also as soon as tmux reports output from the pane (``%output``), so a result is seen
when tmux has it, not up to a poll later; the same for every contender. No fixed sleep is
part of any measured interval.

Contenders:

- **rtui**: ``rtui`` with one host, ``bench``: a real OpenSSH sshd on 127.0.0.1 (the test
  harness's, throwaway keys), its ``python`` this Python; the kernel is a local process started
  through rtui's SSH path, as on a remote host (``--demo``: ``rtui demo`` instead, whose SSH
  server runs inside the rtui process and costs it ~5 ms of CPU per cell). Launch is measured
  from Enter on the host (once its status is ``ok``) until the console shows its editor and
  the "Connected to kernel" line (the console opens only once the kernel has answered
  kernel_info). The time from the shell's Enter on ``rtui`` until the host list is painted is
  reported next to it.
- **jupyter console** ``--kernel python3`` and **euporie-console** ``--kernel-name python3``,
  from a venv under ``~/.cache/rtui-bench/peers-venv`` (``--peers-venv`` or
  ``RTUI_BENCH_PEERS_VENV`` to put it elsewhere; created once with ``python -m venv`` + pip:
  jupyter-console, euporie, ipykernel). Nothing is installed into the project's
  environment. If the install fails (offline), the contender's column says why.

Measures, per contender:

1. launch -> input prompt (s): from Enter on the command in a shell in the pane (rtui: on
   the host) until the prompt is on screen (jupyter console: ``In [1]:``; euporie: ``In [1]:``,
   with the time its status bar shows the kernel idle ``○`` next to it).
2. ``N+1`` Enter -> ``Out[k]: N+1`` on screen (ms), median of 10 runs (``--quick`` 3) after
   one discarded warm-up, a different N each run; typing happens before the clock starts.
   Its floor, timed the same way in its own tmux: ``benchmarks/consoles/line_client.py`` (the tty
   echoes, ``input()``, one execute_request, ``print``) on a kernel of the contender's build.
3. ``for i in range(200000): print('line', i)`` (``--quick``: 20,000) Enter -> ``line 199999``
   on screen AND the console idle again (s), the better of two floods (the second timed
   only, one line longer; a first flood over 15 s is not repeated). The reference is a client
   that only drains iopub
   (jupyter_client, in this process) running the same code on a kernel of the same Python
   and ipykernel as the contender's (best of 2 runs, after a warm-up), measured right after
   that contender's flood: this machine's speed drifts by up to 1.5x within minutes, and a
   reference taken a minute earlier made the ratio move by as much as the goal's margin.
4. While the flood runs, one key every 100 ms (``qzxQZX``, ``--quick`` ``qzx``: letters shown
   nowhere else on these screens). A key counts as shown when it first appears on the screen
   or, stripped of escape sequences, in the bytes the program writes to the terminal (a
   terminal scrolling 50,000 lines/s shows an echoed key for less than one poll). Reported:
   echo latency p95 over the keys typed before the flood ended, keys never shown, and typed
   keys that landed inside the output (rows of the scrollback + screen, after the flood's code,
   other than an input line, that contain a typed key), and how many ended up in the input.
5. peak RSS during the flood, sampled every 50 ms from /proc: the console client only, i.e.
   the pane's process tree minus the kernel (and its children). For rtui that is the rtui
   process alone: the host's side (sshd, the agent, the kernel) would run on that host. With
   ``--demo`` the embedded server lives in the rtui process and is counted.
6. bytes written to the terminal during the flood: ``pipe-pane -o 'cat >> FILE'`` started right
   before Enter, stopped when the prompt is back.

Everything started here is stopped at the end, even on failure: each tmux server is killed
through its own socket, then every process seen in its pane's tree (kernels included) is
terminated if still alive. Figures only: exit 0 whatever they are, non-zero only if a
contender crashed (a failed install or a failed reference client is shown in its row).

Modules: ``run`` (the command line, the order of the measures), ``terminal`` (tmux),
``drive`` (what is typed and timed), one per contender (``rtui_console``, ``jupyter_console``,
``euporie_console``; ``peers`` installs the latter two), ``references`` (drain-only client,
``line_client``), ``stream`` and ``processes`` (what is watched meanwhile), ``report``.
"""

from __future__ import annotations

from benchmarks.consoles.run import main

__all__ = ["main"]
