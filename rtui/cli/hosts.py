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

    p = sub.add_parser("add", help="add a host")
    p.add_argument("name")
    p.add_argument("--hostname", required=True, help="DNS name or address")
    _field_options(p)
    p.set_defaults(handler=_add)

    p = sub.add_parser("edit", help="change a host's fields")
    p.add_argument("name")
    p.add_argument("--hostname", help="DNS name or address")
    p.add_argument("--rename", metavar="NEW", help="new name (jump references follow)")
    _field_options(p)
    p.add_argument(
        "--clear",
        action="append",
        default=[],
        choices=sorted(_CLEARABLE),
        help="reset a field to its default (repeatable)",
    )
    p.set_defaults(handler=_edit)

    p = sub.add_parser("remove", help="remove a host")
    p.add_argument("name")
    p.set_defaults(handler=_remove)

    p = sub.add_parser("import", help="add the hosts of an OpenSSH config (never written)")
    p.add_argument("--ssh-config", metavar="PATH", help="default: ~/.ssh/config")
    p.add_argument(
        "--update", action="store_true", help="also refresh hosts rtui already has"
    )
    p.set_defaults(handler=_import)


def _field_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=_port, help="SSH port (default 22)")
    p.add_argument("--user", help="login user")
    p.add_argument(
        "--identity", action="append", metavar="PATH", help="identity file (repeatable)"
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


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"must be 1-65535, got '{text}'")
    return int(text)


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
    rows += [(h.name, h.address, ",".join(h.jump), ",".join(h.tags)) for h in config.hosts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def host_to_json(host: Host) -> dict[str, Any]:
    """Every field, defaults included, so scripts need not know the defaults."""
    data = {f.name: getattr(host, f.name) for f in dataclasses.fields(host)}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _show(args: argparse.Namespace) -> int:
    host = _file_hosts(args).require(args.name)
    if args.json:
        print(json.dumps(host_to_json(host), indent=2))
        return 0
    for key, value in host_to_json(host).items():
        if isinstance(value, list):
            value = ", ".join(value)
        print(f"{key + ':':17} {'' if value is None else value}")
    return 0


def _add(args: argparse.Namespace) -> int:
    host = host_from_data({"name": args.name, **_option_fields(args)})

    _with_workspace(args, lambda workspace: workspace.save_host(None, host))
    print(f"added {host.name} ({host.address})")
    return 0


def _edit(args: argparse.Namespace) -> int:
    fields = _option_fields(args)
    if not fields and not args.clear and not args.rename:
        raise ConfigError("nothing to change: give at least one option (see --help)")

    def edit(current: Host) -> Host:
        data = host_to_data(current)
        for name in args.clear:
            data.pop(_CLEARABLE[name], None)
        data.update(fields)
        if args.rename:
            data["name"] = args.rename
        return host_from_data(data)

    host = _with_workspace(args, lambda workspace: workspace.edit_host(args.name, edit))
    print(f"updated {host.name} ({host.address})")
    return 0


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
