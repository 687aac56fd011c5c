"""The agent's entry: the table of operations, served over stdin/stdout; or a sub-command
(``relay``: see relay.py; ``keeper``: see keeper.py; ``tar-out``/``tar-in``: see
tarstream.py) that runs that process instead."""

from __future__ import annotations

import sys

from .env_packages import op_env_export, op_env_packages
from .environments import (
    op_env_change,
    op_env_create,
    op_env_remove,
    op_env_tools,
    op_uv_install,
)
from .envs import op_envs
from .files import (
    op_fs_checksum,
    op_fs_copy,
    op_fs_du,
    op_fs_home,
    op_fs_list,
    op_fs_remove,
    op_fs_walk,
)
from .hello import op_hello
from .kernels import (
    op_keep,
    op_launch,
    op_list,
    op_resolve,
    op_restart,
    op_shutdown,
    op_signal,
)
from .protocol import op_cancel, serve
from .setup import op_discard_setup, op_setup
from .slurm import op_slurm_cancel, op_slurm_submit, op_slurm_wait
from .slurm_kernels import op_slurm_info, op_slurm_jobs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .protocol import Op

OPS: dict[str, Op] = {
    "hello": op_hello, "envs": op_envs, "setup": op_setup, "launch": op_launch, "list": op_list,
    "resolve": op_resolve, "signal": op_signal, "restart": op_restart, "shutdown": op_shutdown,
    "discard_setup": op_discard_setup, "keep": op_keep, "cancel": op_cancel,
    "fs_list": op_fs_list, "fs_walk": op_fs_walk, "fs_copy": op_fs_copy,
    "fs_remove": op_fs_remove, "fs_du": op_fs_du, "fs_checksum": op_fs_checksum,
    "fs_home": op_fs_home,
    "env_tools": op_env_tools, "uv_install": op_uv_install, "env_create": op_env_create,
    "env_packages": op_env_packages, "env_change": op_env_change, "env_export": op_env_export,
    "env_remove": op_env_remove,
    "slurm_info": op_slurm_info, "slurm_submit": op_slurm_submit, "slurm_wait": op_slurm_wait,
    "slurm_jobs": op_slurm_jobs, "slurm_cancel": op_slurm_cancel,
}


def main() -> None:
    if sys.argv[1:2] == ["relay"]:
        from .relay import main as relay_main

        relay_main()
        return
    if sys.argv[1:2] == ["keeper"]:
        from .keeper import main as keeper_main

        keeper_main(sys.argv[2:])
        return
    if sys.argv[1:2] in (["tar-out"], ["tar-in"]):
        from .tarstream import main as tar_main

        tar_main(sys.argv[1:])
        return
    serve(OPS, op_hello({}, None))


if __name__ == "__main__":
    main()
