"""A real local user with a password, for password-auth tests against the ``sshd`` harness.

Needs root (useradd/chpasswd/chage).  The account is created once and reused across
runs; its password is reset on every call, so ``ensure_password_account()`` is idempotent.

What OpenSSH's sshd with ``UsePAM no`` (the harness default) checks before it accepts a
password, and what this module makes sure of:

* the shadow hash must not start with ``!`` (locked): ``useradd`` creates the account
  locked (``!``), ``chpasswd`` replaces the hash; a ``!`` left in front (``usermod -L``)
  is removed with ``usermod -U``;
* the password must not be "expired": a last-change day of 0 forces a password change
  (sshd then runs ``passwd`` instead of the command), an expiry date in the past refuses
  the login -- ``chage`` clears both;
* the login shell must exist and be executable (``/bin/sh``);
* sshd compares ``crypt(password, hash)`` itself (libxcrypt: SHA-512 or yescrypt hashes).

The home directory (``useradd -m``) is owned by the account.  Note that the ``sshd``
harness sets ``HOME`` for every session with ``SetEnv``; the ``password_sshd`` fixture
points it at this account's home so the account can write there.
"""

from __future__ import annotations

import datetime
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Account", "ensure_password_account", "shadow_entry"]

SHADOW = Path("/etc/shadow")
LOGIN_SHELL = "/bin/sh"
_USERADD_EXISTS = 9  # useradd: "user already exists"
_ATTEMPTS = 5  # another process may hold the passwd lock (useradd exit 10) for a moment


@dataclass(frozen=True)
class Account:
    name: str
    password: str
    home: Path
    uid: int
    gid: int
    shell: str


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _run(command: list[str], *, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _check(command: list[str], *, input: str | None = None) -> None:
    result = _run(command, input=input)
    if result.returncode != 0:
        raise RuntimeError(
            f"{command[0]} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}"
        )


def shadow_entry(name: str) -> list[str] | None:
    """The ``/etc/shadow`` fields of ``name`` (name, hash, lastchg, min, max, warn,
    inactive, expire, reserved), or None if it has no entry.  Root only."""
    for line in SHADOW.read_text().splitlines():
        fields = line.split(":")
        if fields and fields[0] == name:
            return fields + [""] * (9 - len(fields))
    return None


def _usable_shell(shell: str) -> bool:
    return (
        bool(shell) and os.access(shell, os.X_OK) and Path(shell).name not in ("nologin", "false")
    )


def _create(name: str) -> None:
    for _attempt in range(_ATTEMPTS):
        try:
            pwd.getpwnam(name)
            return
        except KeyError:
            pass
        result = _run([_tool("useradd"), "-m", "-s", LOGIN_SHELL, "-c", "rtui test account", name])
        if result.returncode in (0, _USERADD_EXISTS):
            return
        time.sleep(0.2)  # exit 10: /etc/passwd locked by a concurrent useradd; retry
    raise RuntimeError(f"useradd {name} failed: {(result.stderr or result.stdout).strip()}")


def ensure_password_account(name: str = "rtuitest", password: str = "rtui-pass-1") -> Account:
    """Create (if missing) local user ``name`` with a home dir and set its password.

    The account is left unlocked, unexpired, with shell ``/bin/sh``, so that sshd with
    ``UsePAM no`` and ``PasswordAuthentication yes`` accepts ``password``.
    Raises RuntimeError when not root or a tool fails.
    """
    if os.geteuid() != 0:
        raise RuntimeError("ensure_password_account() needs root (useradd/chpasswd)")
    if not password or ":" in password or "\n" in password:
        raise ValueError("password must be non-empty without ':' or newlines (chpasswd)")
    _create(name)
    entry = pwd.getpwnam(name)
    if not _usable_shell(entry.pw_shell):
        _check([_tool("usermod"), "-s", LOGIN_SHELL, name])
    home = Path(entry.pw_dir)
    if not home.is_dir():
        home.mkdir(mode=0o755, parents=True)
    if home.stat().st_uid != entry.pw_uid:
        os.chown(home, entry.pw_uid, entry.pw_gid)
    _check([_tool("chpasswd")], input=f"{name}:{password}\n")
    shadow = shadow_entry(name)
    if shadow is None:
        raise RuntimeError(f"{name} has no /etc/shadow entry after chpasswd")
    if shadow[1].startswith("!"):
        _check([_tool("usermod"), "-U", name])
    today = datetime.date.today().isoformat()
    # last change today (not 0 = "must change"), never expires, no max age / inactivity
    _check([_tool("chage"), "-d", today, "-E", "-1", "-M", "-1", "-I", "-1", name])
    shadow = shadow_entry(name)
    if shadow is None or not shadow[1].startswith("$"):
        raise RuntimeError(f"{name} has no usable password hash in /etc/shadow: {shadow!r}")
    entry = pwd.getpwnam(name)
    return Account(
        name=name,
        password=password,
        home=Path(entry.pw_dir),
        uid=entry.pw_uid,
        gid=entry.pw_gid,
        shell=entry.pw_shell,
    )
