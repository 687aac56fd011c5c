"""Environments: create one with ipykernel + numpy on a host, rtui (uv, and venv + pip)
beside doing it by hand over ssh.

``python -m benchmarks.envs [--quick] [--runs N] [--caches warm|cold|both]
[--only online|offline]``

The host is this machine through a real loopback OpenSSH sshd (the test harness's), its HOME
a throwaway folder on /dev/shm, uv linked there as ``~/.local/bin/uv`` (the local binary of
the pip package ``uv``, as the tests do) and ``UV_SYSTEM_CERTS=1`` in its sessions (uv then
trusts the system's certificates, as pip does here: this machine reaches PyPI through a
certificate that uv's own roots lack). Every path makes its environment from the same base
interpreter (this Python's), and every environment made is checked (``import ipykernel,
numpy`` in it) and removed before the next run.

- **rtui, uv** / **rtui, venv + pip**: ``HostEnvironments.create(EnvSpec(name,
  python=BASE, tool="uv"|"venv", packages=("ipykernel", "numpy")))`` through the core API,
  the host's connection and agent already up (as in the TUI); rtui also installs pip in
  the environment (so ``%pip`` works in its consoles).
- **by hand**: the real OpenSSH client, ``ssh host 'BASE -m venv X && X/bin/pip install
  ipykernel numpy'`` (its login, ~0.2 s, inside); the reference. **by hand with uv**, for
  scale: ``uv venv`` + ``uv pip install`` over ssh (rtui's own cost over uv).
- **offline**: a second sshd whose sessions get ``PIP_INDEX_URL``, ``UV_INDEX_URL`` and
  ``UV_DEFAULT_INDEX`` = ``http://127.0.0.1:9/simple`` (one ``SetEnv`` line): rtui tries
  the index, finds none, downloads the wheels here for the host's Python and platform and
  uploads them (all counted), or, told ``offline=True``, skips the try; by hand: ``pip
  download`` here + ``scp -r`` + ``pip install --no-index --find-links``.

Caches: the warm tables have a first untimed round that fills pip's and uv's caches on the
host and pip's and rtui's wheel cache here; the cold tables empty all of them before each
run, so everything comes from PyPI. Each figure is the median of ``--runs`` (3) with min
and max; the paths take turns within a round. The load average is printed before and after
each table (the machine is shared). Figures only: exit 0 whatever they are, non-zero only
if a path crashed.
"""

from __future__ import annotations

from benchmarks.envs.run import main

__all__ = ["main"]
