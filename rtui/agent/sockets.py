"""rtui's private Unix sockets on the host: one root directory only its owner can enter, and
one directory per kernel in it (the kernel's ipc sockets and its keeper's socket).

The root is ``$XDG_RUNTIME_DIR/rtui`` when that variable names a directory we own, else
``/tmp/rtui-<uid>``. Every directory on the way is checked, not trusted: a real directory
(not a symlink someone planted), owned by us, mode 0700 (tightened when it is ours and looser).
Anything else is refused with an OpError naming the path and the problem, since another user
who controls that directory could read every kernel's output.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat

from .protocol import OpError

MAX_SOCKET_PATH = 100  # AF_UNIX paths are limited to 108 bytes (104 on BSDs); keep a margin
KEEPER_NAME = "keeper"
IPC_NAME = "k"  # the kernel's ipc sockets are ``<dir>/k-1`` ... ``<dir>/k-5``
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _private(path: str, what: str) -> str:
    """Make ``path`` (or accept it) as a 0700 directory of ours that is not a symlink."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise OpError("insecure_dir", f"cannot create {what} {path}: {e.strerror}") from None
    try:
        st = os.lstat(path)
    except OSError as e:
        raise OpError("insecure_dir", f"cannot use {what} {path}: {e.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise OpError("insecure_dir", f"{what} {path} is a symlink; refusing to use it "
                      "(remove it, and rtui makes a private directory there)")
    if not stat.S_ISDIR(st.st_mode):
        raise OpError("insecure_dir", f"{what} {path} exists and is not a directory")
    if st.st_uid != os.getuid():
        raise OpError("insecure_dir", f"{what} {path} belongs to uid {st.st_uid}, not to us "
                      f"(uid {os.getuid()}); refusing to put kernel sockets there")
    if stat.S_IMODE(st.st_mode) != 0o700:
        try:
            os.chmod(path, 0o700)
        except OSError as e:
            raise OpError("insecure_dir", f"{what} {path} has mode "
                          f"{stat.S_IMODE(st.st_mode):o} and cannot be made 0700: "
                          f"{e.strerror}") from None
    return path


def _root_path() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR") or ""
    if runtime and os.path.isabs(runtime):
        try:
            st = os.lstat(runtime)
            if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid():
                return os.path.join(runtime, "rtui")
        except OSError:
            pass
    return f"/tmp/rtui-{os.getuid()}"


def sockets_root() -> str:
    """The private root, made (or checked) 0700, ours, not a symlink."""
    return _private(_root_path(), "rtui's socket directory")


def dir_name(kernel_id: str) -> str:
    """The name of a kernel's directory: its id when short and plain, else a digest of it
    (kernels rtui did not start may have any connection file name)."""
    if _SAFE_ID.match(kernel_id):
        return kernel_id
    return "h-" + hashlib.sha256(kernel_id.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def kernel_dir(kernel_id: str, create: bool = True) -> str:
    """``<root>/k/<name>/`` for a kernel, 0700; its socket paths checked for length."""
    root = sockets_root()
    path = os.path.join(root, "k", dir_name(kernel_id))
    longest = os.path.join(path, KEEPER_NAME)
    if len(longest.encode()) > MAX_SOCKET_PATH:
        raise OpError("path_too_long", f"the socket path {longest} would be "
                      f"{len(longest.encode())} bytes, over the {MAX_SOCKET_PATH} a Unix "
                      "socket allows here; set XDG_RUNTIME_DIR to a shorter directory "
                      "or use a shorter kernel id")
    if create:
        _private(os.path.join(root, "k"), "rtui's kernel socket directory")
        _private(path, "the kernel's socket directory")
    return path


def keeper_socket(kernel_id: str) -> str:
    """Where the keeper of ``kernel_id`` listens (the directory is not created)."""
    return os.path.join(kernel_dir(kernel_id, create=False), KEEPER_NAME)


def ipc_base(kernel_id: str) -> str:
    """The connection info's ``ip`` for an ipc kernel: sockets are ``<base>-<port>``."""
    return os.path.join(kernel_dir(kernel_id), IPC_NAME)


def remove_kernel_dir(kernel_id: str) -> None:
    """Remove a kernel's socket directory (after it stopped); a missing one is fine."""
    try:
        path = kernel_dir(kernel_id, create=False)
    except OpError:
        return
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
