"""``rtui hosts ...``: list, show, add, edit, remove and import hosts, through the same
Workspace use cases as the TUI's host list (no SSH library is loaded for them)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from rtui.cli.arg_types import LOCAL_PATH, PORT, seconds
from rtui.cli.common import usage_handler
from rtui.core import locations
from rtui.core.config.model import (
    AUTH_METHODS,
    AUTORELOAD_MODES,
    HOST_KEY_POLICIES,
    Config,
    Host,
    host_from_data,
    host_to_data,
)
from rtui.core.config.store import HostStore
from rtui.core.errors import ConfigError
from rtui.core.workspace import Workspace

__all__ = ["register"]

_CLEARABLE = {
    "user": "user",
    "hostname": "hostname",
    "port": "port",
    "identity": "identity_files",
    "auth": "auth_methods",
    "jump": "jump",
    "tags": "tags",
    "note": "note",
    "python": "python",
    "host-key-policy": "host_key_policy",
    "autoreload": "autoreload",
    "autoreload-exclude": "autoreload_exclude",
}


def register(commands: Any) -> None:
    hosts = commands.add_parser("hosts", help="list, add, edit, remove and import hosts")
    hosts.set_defaults(handler=usage_handler(hosts))
    sub = hosts.add_subparsers(dest="hosts_command", metavar="ACTION")

    p = sub.add_parser("list", help="list hosts")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(handler=_list)

    p = sub.add_parser("show", help="show one host")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(handler=_show)

    p = sub.add_parser("add", help="add a host: an SSH host (--hostname), a Jupyter server "
                       "(--jupyter-url) or a JupyterHub (--jupyterhub-url)")
    p.add_argument("name")
    where = p.add_mutually_exclusive_group()  # one is required: said in _add
    where.add_argument("--hostname", help="an SSH host's DNS name or address")
    where.add_argument("--jupyter-url", metavar="URL",
                       help="a Jupyter Server's address, as https://lab.example.org/")
    where.add_argument("--jupyterhub-url", metavar="URL",
                       help="a JupyterHub's address: your server on it is started when needed")
    _field_options(p)
    _jupyter_options(p)
    p.set_defaults(handler=_add, usage_error=p.error)

    p = sub.add_parser("edit", help="change a host's fields")
    p.add_argument("name")
    p.add_argument("--hostname", help="DNS name or address")
    p.add_argument("--rename", metavar="NEW", help="new name (jump references follow)")
    _field_options(p)
    p.add_argument("--url", metavar="URL", help="a Jupyter server's or hub's new address")
    _jupyter_options(p)
    p.add_argument(
        "--clear",
        action="append",
        default=[],
        choices=sorted([*_CLEARABLE, *_JUPYTER_CLEARABLE]),
        help="reset a field to its default (repeatable)",
    )
    p.set_defaults(handler=_edit, usage_error=p.error)

    p = sub.add_parser("remove", help="remove a host")
    p.add_argument("name")
    p.set_defaults(handler=_remove)

    p = sub.add_parser("import", help="add the hosts of an OpenSSH config (never written)")
    p.add_argument("--ssh-config", metavar="PATH", type=LOCAL_PATH,
                   help="default: ~/.ssh/config")
    p.add_argument(
        "--update", action="store_true", help="also refresh hosts rtui already has"
    )
    p.set_defaults(handler=_import)


def _field_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=PORT, help="SSH port (default 22)")
    p.add_argument("--user", help="login user")
    p.add_argument(
        "--identity", action="append", metavar="PATH", type=LOCAL_PATH,
        help="identity file (repeatable)"
    )
    p.add_argument(
        "--auth", action="append", choices=AUTH_METHODS, help="preferred auth method (repeatable)"
    )
    p.add_argument(
        "--jump", action="append", metavar="SPEC",
        help="ProxyJump hop: a host name or [user@]host[:port] (repeatable, in order)",
    )
    p.add_argument("--tag", action="append", help="tag (repeatable)")
    p.add_argument("--note", help="free text")
    p.add_argument("--python", help="remote interpreter or environment (default: auto)")
    p.add_argument("--host-key-policy", choices=HOST_KEY_POLICIES)
    p.add_argument("--autoreload", choices=AUTORELOAD_MODES,
                   help="module reloading in the kernels rtui starts: %%autoreload 2 "
                        "(default), 3 (also adds new names) or off")
    p.add_argument("--autoreload-exclude", action="append", metavar="MODULE",
                   help="a module name never reloaded, e.g. torch (torch.nn too: any "
                        "module with it in its dotted name; repeatable)")


def _jupyter_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group(
        "Jupyter server / JupyterHub", "the token is never stored in hosts.toml: it comes "
        "from an environment variable, a command or the OS keyring, else it is asked for on "
        "this terminal when needed")
    group.add_argument("--via", metavar="SSHHOST",
                       help="open the URL over this SSH host's connection (a host of the file)")
    token = group.add_mutually_exclusive_group()
    token.add_argument("--token-env", metavar="VAR",
                       help="read the token from this environment variable")
    token.add_argument("--token-command", metavar="CMD",
                       help="run this command (no shell) and read the token from its first "
                            "line, as 'pass show lab/token'; the command is stored, not its "
                            "output")
    token.add_argument("--token-keyring", action="store_true",
                       help="keep the token in the OS keyring (asked for once, now)")
    group.add_argument("--ca-file", metavar="PEM", type=LOCAL_PATH,
                       help="trust this certificate (a self-signed server's); rtui never "
                            "turns verification off")
    group.add_argument("--server", metavar="NAME",
                       help="JupyterHub: this named server (default: your default server)")
    group.add_argument("--start-timeout", type=seconds(86_400), metavar="S",
                       help="JupyterHub: seconds to wait for the server to start (default 120)")


T = TypeVar("T")


def _with_workspace(args: argparse.Namespace, use_case: Callable[[Workspace], Awaitable[T]]) -> T:
    """Run ``use_case`` on a workspace of the hosts file, read first (a broken file is an
    error here, as it is for every command)."""
    async def run() -> T:
        workspace = Workspace(HostStore(locations.config_path(args.config)))
        try:
            await workspace.reload(strict=True)
            return await use_case(workspace)
        finally:
            await workspace.close()

    return asyncio.run(run())


def _file_hosts(args: argparse.Namespace) -> Config:
    async def read(workspace: Workspace) -> Config:
        return workspace.config

    return _with_workspace(args, read)


def _option_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The model fields given on the command line, in TOML-data form."""
    mapping = {
        "hostname": "hostname", "port": "port", "user": "user", "identity": "identity_files",
        "auth": "auth_methods", "jump": "jump", "tag": "tags", "note": "note",
        "python": "python", "host_key_policy": "host_key_policy",
        "autoreload": "autoreload", "autoreload_exclude": "autoreload_exclude",
    }
    return {
        field: getattr(args, opt)
        for opt, field in mapping.items()
        if getattr(args, opt, None) is not None
    }


def _list(args: argparse.Namespace) -> int:
    config = _file_hosts(args)
    if args.json:
        print(json.dumps([host_to_json(h) for h in config.hosts], indent=2))
        return 0
    if not config.hosts:
        print("no hosts yet: `rtui hosts add NAME --hostname HOST` or `rtui hosts import`")
        return 0
    rows = [("NAME", "ADDRESS", "JUMP", "TAGS")]
    rows += [(h.name, _address(h), ",".join(h.jump), ",".join(h.tags)) for h in config.hosts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _address(host: Host) -> str:
    """Where the host is: ``user@host:port``, or its kind and URL (``jupyterhub URL``)."""
    return host.address if host.jupyter is None else f"{host.kind} {host.address}"


def host_to_json(host: Host) -> dict[str, Any]:
    """Every field, defaults included, so scripts need not know the defaults; the host's
    kind too, and its slurm and jupyter tables as objects (never a token: none is kept)."""
    data = {f.name: getattr(host, f.name) for f in dataclasses.fields(host)}
    data["kind"] = host.kind
    for table in ("slurm", "jupyter"):
        if data[table] is not None:
            data[table] = dataclasses.asdict(data[table])
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _show(args: argparse.Namespace) -> int:
    host = _file_hosts(args).require(args.name)
    if args.json:
        print(json.dumps(host_to_json(host), indent=2))
        return 0
    shown = host_to_json(host)
    if host.jupyter is not None:  # only what a Jupyter host has (the rest is SSH's)
        shown = {"name": host.name, "kind": host.kind, "tags": shown["tags"],
                 "note": shown["note"],
                 **{f"jupyter.{k}": v for k, v in host.jupyter.to_toml().items()}}
    for key, value in shown.items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        print(f"{key + ':':17} {'' if value is None else value}")
    return 0


def _add(args: argparse.Namespace) -> int:
    if not (args.hostname or args.jupyter_url or args.jupyterhub_url):
        args.usage_error("the following arguments are required: --hostname (an SSH host), "
                         "or --jupyter-url or --jupyterhub-url")
    fields = _option_fields(args)
    jupyter = _jupyter_table(args, fields)
    if jupyter is not None:
        fields["jupyter"] = jupyter
    host = host_from_data({"name": args.name, **fields})
    if args.token_keyring:
        _can_keep_token()  # refused before anything is written

    _with_workspace(args, lambda workspace: workspace.save_host(None, host))
    print(f"added {host.name} ({host.kind + ' ' if host.jupyter else ''}{host.address})")
    if args.token_keyring:  # once the name is the host's: never over another's token
        _keep_token_in_keyring(host)
    return 0


def _jupyter_table(args: argparse.Namespace, fields: dict[str, Any]) -> dict[str, Any] | None:
    """The ``jupyter`` table the flags make (None: an SSH host); a flag of the other kind
    of host is a usage error."""
    given = {key: getattr(args, key) for key in _JUPYTER_FLAGS
             if getattr(args, key) not in (None, False)}
    url = args.jupyter_url or args.jupyterhub_url
    if url is None:
        if given:
            args.usage_error(f"{', '.join(_flag(k) for k in given)}: only for a Jupyter "
                             "server (--jupyter-url) or a JupyterHub (--jupyterhub-url)")
        return None
    ssh = [key for key in fields if key not in ("tags", "note")]
    if ssh:
        args.usage_error(f"{', '.join(_flag(_SSH_FLAGS.get(k, k)) for k in ssh)}: an SSH "
                         "host's option; a Jupyter host takes --via, --token-env, "
                         "--token-command, --token-keyring, --ca-file, --tag and --note")
    hub_only = [key for key in ("server", "start_timeout") if key in given]
    if args.jupyter_url and hub_only:
        args.usage_error(f"{', '.join(_flag(k) for k in hub_only)}: only for a JupyterHub "
                         "(--jupyterhub-url)")
    return {"url": url, **({"hub": True} if args.jupyterhub_url else {}), **given}


_JUPYTER_FLAGS = ("via", "token_env", "token_command", "token_keyring", "ca_file", "server",
                  "start_timeout")
_SSH_FLAGS = {"identity_files": "identity", "auth_methods": "auth", "tags": "tag"}


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


_JUPYTER_CLEARABLE = ("via", "token-env", "token-command", "token-keyring", "ca-file", "server",
                      "start-timeout")
_TOKEN_SOURCES = ("token_env", "token_command", "token_keyring")


def _can_keep_token() -> None:
    """``--token-keyring`` needs a keyring, and a terminal to ask the token on."""
    import sys

    from rtui.core.jupyter.secrets import keyring_works

    if not keyring_works():
        raise ConfigError("--token-keyring: no OS keyring on this machine (no Secret "
                          "Service on D-Bus); use --token-env or --token-command")
    if not sys.stdin.isatty():
        raise ConfigError("--token-keyring asks the token on a terminal, and there is none "
                          "here; use --token-env or --token-command")


def _keep_token_in_keyring(host: Host) -> None:
    """Ask the token once, on this terminal (never in argv or in hosts.toml), and keep it
    in the OS keyring under the host's name."""
    import getpass

    from rtui.core.jupyter.secrets import save_token

    try:
        token = getpass.getpass(f"Token for {host.address} (kept in the keyring): ").strip()
    except (EOFError, KeyboardInterrupt):
        token = ""
    if not token:
        raise ConfigError(f"no token given: none was saved (rtui asks for {host.name}'s "
                          "token when it needs it)")
    save_token(host.name, token)
    print(f"the token of {host.name} is in the keyring")


def _edit(args: argparse.Namespace) -> int:
    fields = _option_fields(args)
    jupyter = {key: getattr(args, key) for key in _JUPYTER_FLAGS
               if getattr(args, key) not in (None, False)}
    if args.url:
        jupyter["url"] = args.url
    if not fields and not jupyter and not args.clear and not args.rename:
        raise ConfigError("nothing to change: give at least one option (see --help)")

    def edit(current: Host) -> Host:
        data = host_to_data(current)
        table = _edited_table(current, data.pop("jupyter", None), jupyter, args.clear)
        for name in args.clear:
            data.pop(_CLEARABLE.get(name, ""), None)
        data.update(fields)
        if table is not None:
            data["jupyter"] = table
        if args.rename:
            data["name"] = args.rename
        return host_from_data(data)

    host = _with_workspace(args, lambda workspace: workspace.edit_host(args.name, edit))
    print(f"updated {host.name} ({host.address})")
    return 0


def _edited_table(current: Host, table: dict[str, Any] | None, given: dict[str, Any],
                  clear: list[str]) -> dict[str, Any] | None:
    """A Jupyter host's table with the flags applied: a token source given replaces the
    one set before; the Jupyter flags on an SSH host are refused, naming them."""
    cleared = [name for name in clear if name in _JUPYTER_CLEARABLE]
    if table is None:
        if given or cleared:
            named = [_flag(k) for k in given] + [f"--clear {n}" for n in cleared]
            raise ConfigError(f"{', '.join(named)}: only for a Jupyter server or JupyterHub "
                              f"host; {current.name} is an SSH host")
        return None
    if any(key in given for key in _TOKEN_SOURCES):
        for key in _TOKEN_SOURCES:
            table.pop(key, None)
    for name in cleared:
        table.pop(name.replace("-", "_"), None)
    table.update(given)
    return table


def _remove(args: argparse.Namespace) -> int:
    _with_workspace(args, lambda workspace: workspace.delete_host(args.name))
    print(f"removed {args.name}")
    return 0


def _import(args: argparse.Namespace) -> int:
    path = Path(args.ssh_config).expanduser() if args.ssh_config else locations.ssh_config_path()
    _, result = _with_workspace(
        args, lambda workspace: workspace.import_ssh_config(path, update=args.update))
    for alias, why in result.skipped:
        print(f"skipped {alias}: {why}")
    print(f"imported from {path}: {result.summary()}")
    return 0
