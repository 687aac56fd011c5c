"""SLURM kernels: submit -> kernel ready beside the scheduler's own ``srun true``, and the
``1+1`` round trip to a kernel in a job beside one on the login node (issue 19).

``python -m benchmarks.slurm [--quick] [--runs N] [--samples N]``

It starts its own one-node cluster (the test harness's: slurmctld, slurmd, munge; this
machine is the node) and its login node, a loopback OpenSSH sshd whose sessions see the
cluster; rtui talks to the login node only, its connection and agent up before anything is
timed (as in the TUI), through the core (``HostKernels``).

- **Starts**, each path in turn within a round, the node idle before each (every job gone):
  ``srun true`` (the reference: the scheduler allocates, launches a step, runs it and
  releases the node); a batch script's start (``sbatch --wrap 'date +%s.%N'``, the script's
  first instant less the submit's: the scheduler's batch path, which rtui's jobs take);
  **rtui's kernel as a job**, from the submit (``submit_slurm``) to a ``RemoteKernel`` that
  answered (``wait_slurm`` returned; ``start_slurm`` is the two); and rtui's kernel on the
  login node (``HostKernels.start``), for scale. Goal: rtui <= 2 s over ``srun true``.
  The same starts are also given from slurmctld's allocation of the node (its log): without
  the wait for the scheduler's pass, so rtui's own cost over the by-hand kernel shows.
- **Stages** of rtui's SLURM starts, as instants after the submit: from slurmctld's and
  slurmd's logs (stamped to the ms), the agent's progress events, and the files the runner
  and the agent write on the login node (this machine: their mtimes).
- **Round trips** of ``1+1`` (execute_reply + idle), p50/p95, to a kernel in a job (TCP to
  the node's address through the login node) and to kernels on the login node (its usual
  Unix sockets: the reference; and TCP, for scale), all up at once, in blocks taking them in
  turn. Goal: the job's p50 <= 1.25x the login node's.

The load average is printed around each table (the machine is shared). Figures only: exit 0
whatever they are, non-zero only if a path crashed; rows of rtui's parts that are not
written yet say so.
"""

from __future__ import annotations

from benchmarks.slurm.run import main

__all__ = ["main"]
