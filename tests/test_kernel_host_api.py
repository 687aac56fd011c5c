"""The transport-neutral kernel records and host API: a Jupyter server's kernel has no
tunnel, a websocket route, no exposure note; only SSH hosts narrow to HostKernels."""

from __future__ import annotations

from typing import Any, cast

from rtui.core.kernels.host_api import KernelHost, ssh_kernels
from rtui.core.kernels.records import RemoteKernel, ServerKernelRef
from rtui.core.kernels.service import HostKernels


def _server_kernel(via: str | None) -> RemoteKernel:
    ref = ServerKernelRef("http://127.0.0.1:8888/", "k1", "sid-1", via)
    return RemoteKernel(host="lab", id="k1", connection_file=None,
                        session=cast(Any, None), tunnel=None, launched=True, server=ref)


def test_a_server_kernel_routes_over_the_websocket_and_exposes_nothing() -> None:
    direct, via = _server_kernel(None), _server_kernel("login1")
    assert direct.route == "websocket"
    assert via.route == "websocket via login1"
    assert direct.exposure_note is None and via.exposure_note is None
    assert direct.server is not None and direct.server.session_id == "sid-1"


def test_a_kernel_whose_link_is_gone_has_no_route() -> None:
    kernel = RemoteKernel(host="h", id="k2", connection_file="/c",
                          session=cast(Any, None), tunnel=None, launched=False)
    assert kernel.route is None and kernel.exposure_note is None


class _NotSSH:
    """Any other KernelHost: ssh_kernels must not take it for an SSH host."""

    name = "lab"
    supports_files = supports_environments = supports_slurm = False


def test_only_host_kernels_narrow_to_an_ssh_host() -> None:
    assert HostKernels.supports_files and HostKernels.supports_environments
    assert HostKernels.supports_slurm
    ssh = object.__new__(HostKernels)  # no connection needed to tell the type
    assert ssh_kernels(cast(KernelHost, ssh)) is ssh
    assert ssh_kernels(cast(KernelHost, _NotSSH())) is None
