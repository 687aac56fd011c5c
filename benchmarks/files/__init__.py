"""Remote files (issue 16): rtui's transfers and listing side by side with OpenSSH, one sshd.

``python -m benchmarks.files [--quick] [--runs N] [--mib N] [--files N] [--entries N]
[--relay-mib N]``

Everything runs against one throwaway loopback sshd (the test harness's), both ends in
/dev/shm (no disk is measured), every client with aes128-gcm (rtui's first cipher):

1. **One big file up and down** (1 GiB; --quick 8 MiB): rtui's engine in this process
   (``transfer()``, its connection already up), ``rtui cp`` (a process: its start and login,
   the best of 3 ``rtui files HOST stat``, taken off), ``sftp -b`` and ``scp`` (their login,
   the best of 3 ``sftp -b`` with only ``pwd``, taken off). Runs interleaved, each round in
   another order; medians (--quick: one round, one login each). This process's RSS is
   sampled every 50 ms during the engine's transfer; its slope over the last three
   quarters (MiB per GiB sent) should be ~0.
2. **A folder of small files** (10,000 x 4 KiB; --quick 100): the engine vs ``scp -r`` and
   ``sftp -b put -r``/``get -r``; goal: at least ``scp -r``'s speed.
3. **The far link**: the harness's relay, in a process of its own, at 50 ms each way and
   10 MB/s; the big file (1 GiB; --quick 1 MiB) up and down by the engine, as a fraction of
   the link's rate (goal 0.9), one round.
4. **A big directory** (100,000 entries; --quick 2,000): time to the first rows and to the
   whole listing by rtui's service (``HostFiles.list``), by the two ways it may take (the
   agent's ``fs_list``, SFTP ``scandir``) alone, and on screen in rtui's Files tab (the app
   under Textual's pilot, 80x24: from ``go`` to the first rows painted, and to the whole
   listing sorted in), against ``ssh host ls -la`` (its login, the best of 3
   ``ssh host true``, taken off). Goals: the tab's first rows within 0.2 s, the service's
   whole listing within 2x ``ls -la``.

A path of rtui's that is not written yet says so in its row. Exit 0 whatever the figures;
non-zero when a path crashed.
"""

from __future__ import annotations

from benchmarks.files.run import main

__all__ = ["main"]
