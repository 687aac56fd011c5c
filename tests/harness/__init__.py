"""Test harness: real OpenSSH servers on loopback with throwaway keys (see ``sshd.py``).

``tests.harness.sshd`` is a dependency-free helper (stdlib + subprocess) that starts
``/usr/sbin/sshd`` as a plain process with its own config, host key and authorised
client key.  ``tests.harness.fixtures`` is a pytest plugin exposing the ``sshd``,
``jump_sshd``, ``fresh_sshd`` and ``sshd_factory`` fixtures.
"""
