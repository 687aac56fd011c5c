"""``rtui envs``: a host's Python environments from a shell: list them, create one, list,
install, uninstall, upgrade and export its packages, remove it, make it the host's default.

``rtui envs HOST`` lists and ``rtui envs ACTION HOST ...`` acts: a first word that is no
action is a host, so a host named like an action is listed with ``rtui envs list HOST``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import re
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtui.cli.arg_types import LOCAL_PATH, not_blank, shown
from rtui.cli.common import print_progress, usage_handler, with_host
from rtui.core.config.model import Host
from rtui.core.errors import RtuiError

if TYPE_CHECKING:  # the handlers import these: `rtui hosts ...` must stay light
    from rtui.core.envs import HostEnvironments, Package
    from rtui.core.kernels.records import Environment
    from rtui.core.kernels.service import HostKernels
    from rtui.core.workspace import Workspace

__all__ = ["ACTIONS", "register"]

ACTIONS = ("list", "create", "packages", "install", "uninstall", "upgrade", "export", "rm",
           "default")
ENV = not_blank("an environment's name (see `rtui envs HOST`), prefix or python")
_MAX_REQUIREMENTS = 1 << 20  # bytes: a requirements file is a list of names, not data
_CANCEL_CHECK = 30.0  # seconds to see a cancelled create's directory gone from the host


class _HostOrAction(argparse._SubParsersAction):  # type: ignore[type-arg]
    """The actions of ``rtui envs``, where a first word that is none of them is the host
    of ``list`` (``rtui envs HOST`` as it always was)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.choices = None  # type: ignore[assignment]  # any word: __call__ decides

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        words = list(values)
        if words[0] not in self._name_parser_map:
            words.insert(0, "list")
        setattr(namespace, self.dest, words[0])
        action: argparse.ArgumentParser = self._name_parser_map[words[0]]
        # Intermixed: packages may follow options (`create lab e1 --tool uv six`).
        parsed, extras = action.parse_known_intermixed_args(words[1:])
        if extras:
            action.error(f"unrecognized arguments: {' '.join(extras)}")
        for key, value in vars(parsed).items():
            setattr(namespace, key, value)


def register(commands: Any) -> None:
    envs = commands.add_parser(
        "envs", help="list, create, change and remove a host's Python environments",
        usage="rtui envs HOST [--json] [--sizes]\n       rtui envs ACTION HOST ...",
        description="`rtui envs HOST` lists the host's Pythons (PATH, configured, conda, "
        "venvs, rtui's); the actions create and change environments rtui keeps in "
        "~/.local/share/rtui/envs on the host. A host named like an action: "
        "`rtui envs list HOST`.")
    _json_sizes(envs, default=False)
    envs.set_defaults(handler=usage_handler(envs))
    sub = envs.add_subparsers(dest="envs_command", metavar="ACTION", action=_HostOrAction,
                              prog="rtui envs")

    p = sub.add_parser("list", help="the host's Pythons and their kernel packages "
                       "(the action of `rtui envs HOST`)")
    p.add_argument("host", metavar="HOST")
    _json_sizes(p, default=argparse.SUPPRESS)
    p.set_defaults(handler=_list)

    p = sub.add_parser("create", help="create an environment (ipykernel and pip added)")
    p.add_argument("host", metavar="HOST")
    p.add_argument("name", metavar="NAME", type=_env_name,
                   help="letters, digits, '.', '_', '-' (64 at most)")
    p.add_argument("packages", nargs="*", metavar="PKG", help="packages, as pip takes them")
    p.add_argument("--python", metavar="PATH|VERSION",
                   help="the base interpreter, or a version like 3.11 of one the host has "
                   "(default: the host's configured Python, else the one rtui runs on)")
    p.add_argument("--tool", choices=("uv", "venv"),
                   help="uv (put on the host when it has none) or venv + pip "
                   "(default: uv when the host has it)")
    p.add_argument("--spyder", action="store_true", help="also install spyder-kernels")
    p.add_argument("-r", "--requirements", metavar="FILE", type=LOCAL_PATH,
                   help="a requirements file here, installed too")
    p.add_argument("--offline", action="store_true",
                   help="download wheels here and upload them (the host has no index)")
    p.set_defaults(handler=_create)

    p = sub.add_parser("packages", help="an environment's packages and versions")
    _host_env(p)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="print a JSON array")
    p.set_defaults(handler=_packages)

    for action, text in (("install", "install packages into an environment"),
                         ("uninstall", "uninstall packages from an environment"),
                         ("upgrade", "upgrade packages of an environment")):
        p = sub.add_parser(action, help=text)
        _host_env(p)
        p.add_argument("packages", nargs="*", metavar="PKG")
        p.add_argument("-r", "--requirements", metavar="FILE",
                       type=LOCAL_PATH,
                       help="a requirements file here, its packages too")
        if action != "uninstall":
            p.add_argument("--offline", action="store_true",
                           help="download wheels here and upload them (the host has no index)")
        p.set_defaults(handler=_change, action=action, usage_error=p.error, offline=False)

    p = sub.add_parser("export", help="an environment's packages as requirements.txt "
                       "(or pylock.toml)")
    _host_env(p)
    p.add_argument("-o", "--output", metavar="FILE", type=LOCAL_PATH,
                   help="write it here (default: stdout)")
    p.add_argument("--format", choices=("requirements", "pylock"), default="requirements",
                   help="pylock: for environments uv made")
    p.add_argument("--force", action="store_true", help="replace FILE when it exists")
    p.set_defaults(handler=_export)

    p = sub.add_parser("rm", help="remove an environment (asks first)")
    _host_env(p)
    p.add_argument("--force", action="store_true",
                   help="also one rtui did not make (a venv found on the host)")
    p.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal)")
    p.set_defaults(handler=_rm)

    p = sub.add_parser("default", help="make an environment the host's Python (hosts.toml)")
    _host_env(p)
    p.set_defaults(handler=_default)


def _json_sizes(p: argparse.ArgumentParser, default: Any) -> None:
    """``--json``/``--sizes`` of the listing, on ``envs`` itself too (``rtui envs --json
    HOST``); the action's copies keep what ``envs`` got unless given again."""
    p.add_argument("--json", action="store_true", default=default, help="print a JSON array")
    p.add_argument("--sizes", action="store_true", default=default,
                   help="with each environment's size on disk (those measured within 3 s)")


def _host_env(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", metavar="HOST")
    p.add_argument("env", metavar="NAME", type=ENV,
                   help="an environment's name (see `rtui envs HOST`), prefix or python")


def _env_name(text: str) -> str:
    """A new environment's name, refused as a usage error before anything connects."""
    from rtui.core.envs import valid_name

    if not valid_name(text):
        raise argparse.ArgumentTypeError(
            f"{shown(text)}: a name is letters, digits, '.', '_' and '-' (64 at most), "
            "starting with a letter or digit")
    return text


def _read_requirements(path: str | None) -> str | None:
    """The text of a requirements file here, read before the host is asked anything."""
    if path is None:
        return None
    where = Path(path).expanduser()
    try:
        with where.open("rb") as handle:
            data = handle.read(_MAX_REQUIREMENTS + 1)
    except FileNotFoundError:
        raise RtuiError(f"requirements file {path}: no such file") from None
    except IsADirectoryError:
        raise RtuiError(f"requirements file {path}: a directory, not a file") from None
    except OSError as exc:
        raise RtuiError(f"requirements file {path}: cannot read it: "
                        f"{exc.strerror or exc}") from None
    if len(data) > _MAX_REQUIREMENTS:
        raise RtuiError(f"requirements file {path}: over 1 MiB, not a requirements file")
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RtuiError(f"requirements file {path}: not a text file") from None


def _with_envs(args: argparse.Namespace,
               body: Callable[[Workspace, Host, HostEnvironments], Awaitable[int]]) -> int:
    """Run ``body(workspace, host, environments)`` on the host (see ``with_host``)."""
    async def run(workspace: Workspace, host: Host, _kernels: HostKernels) -> int:
        envs = await workspace.environments(host.name)
        return await body(workspace, host, envs)

    return with_host(args, args.host, run)


# -- rtui envs HOST ------------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    from rtui.core.units import byte_size

    async def body(_ws: Workspace, host: Host, envs: HostEnvironments) -> int:
        found = await envs.list(refresh=True, sizes=args.sizes)
        if args.json:
            print(json.dumps([e.__dict__ for e in found], indent=2))
            return 0
        for e in found:
            flags = [f"ipykernel {e.ipykernel}" if e.ipykernel else "no ipykernel"]
            if e.spyder_kernels:
                flags.append(f"spyder-kernels {e.spyder_kernels}")
            detail = e.error or ", ".join(flags)
            extra = [f"made by rtui{' with ' + e.tool if e.tool else ''}"] if e.managed else []
            if args.sizes and e.size is not None:  # None: a base Python, or past the bound
                extra.append(byte_size(e.size))
            print(f"{e.python}  ({e.kind}{', ' + e.name if e.name != e.python else ''}) "
                  f"Python {e.version or '?'}: {detail}"
                  + (f"  [{', '.join(extra)}]" if extra else ""))
        if not found:
            print(f"no Python found on {host.name}")
        return 0

    return _with_envs(args, body)


# -- create, change ----------------------------------------------------------------------------


def _create(args: argparse.Namespace) -> int:
    from rtui.core.envs import EnvSpec

    spec = EnvSpec(name=args.name, python=args.python, tool=args.tool or "auto",
                   packages=tuple(args.packages),
                   requirements=_read_requirements(args.requirements), spyder=args.spyder,
                   upload_uv=args.tool == "uv")  # asked for uv by name: put it there

    async def body(_ws: Workspace, host: Host, envs: HostEnvironments) -> int:
        try:
            env = await envs.create(spec, on_progress=print_progress, offline=args.offline)
        except asyncio.CancelledError:
            await _say_what_is_left(envs, host.name, spec.name)
            raise
        kernel = [f"ipykernel {env.ipykernel}" if env.ipykernel else "no ipykernel"]
        if env.spyder_kernels:
            kernel.append(f"spyder-kernels {env.spyder_kernels}")
        print(f"created {spec.name} on {host.name}{' with ' + env.tool if env.tool else ''}: "
              f"{env.python} (Python {env.version or '?'}, {', '.join(kernel)})")
        return 0

    return _with_envs(args, body)


async def _say_what_is_left(envs: HostEnvironments, host: str, name: str) -> None:
    """After a create was cancelled: the agent removes the half-made environment; say
    "nothing left" once the host's listing shows it gone, or what to do if it stays."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _CANCEL_CHECK
    while True:
        try:
            left = [e for e in await envs.list(refresh=True) if _is_rtui_env(e, name)]
        except RtuiError as exc:
            print(f"rtui: cancelled; whether {name} is left on {host} is unknown: {exc}",
                  file=sys.stderr, flush=True)
            return
        if not left:
            print(f"rtui: cancelled: nothing left on {host}", file=sys.stderr, flush=True)
            return
        if loop.time() > deadline:
            print(f"rtui: cancelled, but {left[0].prefix or left[0].python} is still on "
                  f"{host}: `rtui envs rm {host} {name} --force` removes it",
                  file=sys.stderr, flush=True)
            return
        await asyncio.sleep(0.3)


def _is_rtui_env(env: Environment, name: str) -> bool:
    """An environment in rtui's envs directory named ``name`` (finished or not)."""
    where = env.prefix or os.path.dirname(os.path.dirname(env.python))
    return env.name == name and (env.managed or where.endswith(f"/rtui/envs/{name}"))


def _change(args: argparse.Namespace) -> int:
    action: str = args.action
    if not args.packages and not args.requirements:
        args.usage_error(f"nothing to {action}: give packages (PKG...) or -r FILE")
    requirements = _read_requirements(args.requirements)

    async def body(_ws: Workspace, host: Host, envs: HostEnvironments) -> int:
        try:
            after = await envs.change(args.env, action, list(args.packages),
                                      requirements=requirements, on_progress=print_progress,
                                      offline=args.offline)
        except asyncio.CancelledError:
            print(f"rtui: cancelled: {args.env} on {host.name} may have some of it done "
                  f"already (`rtui envs packages {host.name} {args.env}` lists them)",
                  file=sys.stderr, flush=True)
            raise
        done = {"install": "installed in", "uninstall": "uninstalled from",
                "upgrade": "upgraded in"}[action]
        named = [p for p in after if _key(p.name) in {_key(_req_name(r)) for r in args.packages}]
        if action == "uninstall":
            print(f"{done} {args.env} on {host.name}: {', '.join(args.packages) or 'the file'}"
                  f" ({len(after)} packages left)")
        else:
            shown = ", ".join(f"{p.name} {p.version}" for p in named) or "the file's packages"
            print(f"{done} {args.env} on {host.name}: {shown}")
        return 0

    return _with_envs(args, body)


def _req_name(requirement: str) -> str:
    """The project name a requirement starts with (``six>=1.16`` -> ``six``)."""
    found = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    return found.group(0) if found else requirement


def _key(name: str) -> str:
    """A project name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


# -- packages, export ---------------------------------------------------------------------------


def _packages(args: argparse.Namespace) -> int:
    async def body(_ws: Workspace, host: Host, envs: HostEnvironments) -> int:
        found: Sequence[Package] = await envs.packages(args.env)
        if getattr(args, "json", False):
            print(json.dumps([dataclasses.asdict(p) for p in found], indent=2))
            return 0
        width = max((len(p.name) for p in found), default=0)
        for p in found:
            print(f"{p.name.ljust(width)}  {p.version}")
        if not found:
            print(f"no packages in {args.env} on {host.name}")
        return 0

    return _with_envs(args, body)


def _export(args: argparse.Namespace) -> int:
    target = Path(args.output).expanduser() if args.output else None
    if target is not None:
        _check_writable(target, args.output, args.force)

    async def body(_ws: Workspace, host: Host, envs: HostEnvironments) -> int:
        text = await envs.export(args.env, args.format)
        if target is None:
            sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
            return 0
        _write_atomically(target, args.output, text, replace=args.force)
        lines = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        print(f"exported {args.env} on {host.name} to {args.output} ({args.format}, "
              f"{lines} lines)")
        return 0

    return _with_envs(args, body)


def _check_writable(target: Path, given: str, force: bool) -> None:
    """Said before the host is asked anything: a file there (without --force), no such
    directory, or a directory where the file would go."""
    if target.is_dir():
        raise RtuiError(f"{given} is a directory: name the file to write")
    if os.path.lexists(target) and not force:
        raise RtuiError(f"{given} exists: --force replaces it")
    if not target.parent.is_dir():
        raise RtuiError(f"{given}: no directory {target.parent}")


def _write_atomically(target: Path, given: str, text: str, *, replace: bool) -> None:
    """Write ``text`` to ``target`` whole or not at all: a temporary file beside it, then a
    rename (``replace``) or a link that fails when ``target`` appeared meanwhile."""
    mask = os.umask(0)
    os.umask(mask)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise RtuiError(f"cannot write {given}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), 0o666 & ~mask)
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)
    except FileExistsError:
        raise RtuiError(f"{given} exists: --force replaces it") from None
    except OSError as exc:
        raise RtuiError(f"cannot write {given}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


# -- rm, default --------------------------------------------------------------------------------


def _rm(args: argparse.Namespace) -> int:
    from rtui.cli.prompts import ask_line

    asking = not args.yes
    if asking and not sys.stdin.isatty():
        raise RtuiError(f"not removing {args.env} on {args.host}: there is no terminal to "
                        "ask on (--yes removes it without asking)")

    async def body(_ws: Workspace, host: Host, envs: HostEnvironments) -> int:
        env = await envs.resolve(args.env)
        where = env.prefix or env.python
        if not env.managed and not args.force:
            raise RtuiError(f"{args.env} on {host.name} ({where}) was not made by rtui: "
                            "--force removes it anyway")
        if asking:
            made = "made by rtui" if env.managed else "NOT made by rtui"
            answer = await ask_line(f"Remove {env.name} ({where}, {made}) on {host.name}? "
                                    "[y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print(f"kept {env.name} on {host.name}")
                return 1
        removed = await envs.remove(args.env, force=args.force)
        print(f"removed {env.name} on {host.name}: {removed}")
        if host.python and host.python in (env.python, env.prefix, removed):
            print(f"rtui: it was {host.name}'s Python: `rtui hosts edit {host.name} --clear "
                  "python` goes back to the best one found", file=sys.stderr)
        return 0

    return _with_envs(args, body)


def _default(args: argparse.Namespace) -> int:
    async def body(_ws: Workspace, host: Host, envs: HostEnvironments) -> int:
        env = await envs.resolve(args.env)
        if env.error:
            raise RtuiError(f"{args.env} on {host.name} cannot be the default: {env.error}")
        await _remember_python(args, host.name, env.python)
        print(f"{host.name}'s Python is now {env.python} ({env.name})")
        if not env.ipykernel:
            print(f"rtui: {env.name} has no ipykernel, which kernels need: "
                  f"`rtui envs install {host.name} {args.env} ipykernel`", file=sys.stderr)
        return 0

    return _with_envs(args, body)


async def _remember_python(args: argparse.Namespace, name: str, python: str) -> None:
    """Write the host's python into the hosts file (the CLI's connected workspace has no
    store: it is made of the file as read, as every command's is)."""
    from rtui.core import locations
    from rtui.core.config.store import HostStore
    from rtui.core.workspace import Workspace

    workspace = Workspace(HostStore(locations.config_path(args.config)))
    try:
        await workspace.reload(strict=True)
        await workspace.remember_python(name, python)
    finally:
        await workspace.close()
