"""The run's hosts, shared by the TUI and the CLI: the loaded config plus the hosts injected
for this run (the demo's), one connection and one kernel service per host, each host's last
status, reload, and the use cases both faces drive (check, save, delete, import, choose an
environment).

No Textual here: changes are reported as small typed events to subscribers (the app turns
them into calls on its widgets). asyncssh and jupyter_client are imported off the event loop
on first use, so a UI built on this shows its first frame without waiting for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtui.core import locations
from rtui.core.config.model import Config, Host, Settings
from rtui.core.config.store import HostStore
from rtui.core.errors import RtuiError
from rtui.core.kernels.choice import (
    EnvironmentDecision,
    ListEnvironments,
    Run,
    choose_environment,
)
from rtui.core.kernels.host_api import ssh_kernels
from rtui.core.kernels.reloading import reloading_of
from rtui.core.lazy import import_off_loop

if TYPE_CHECKING:  # their modules load asyncssh, or the agent's sources: imported when used
    from rtui.core.config.importer import ImportResult
    from rtui.core.envs.service import HostEnvironments
    from rtui.core.files.queue import TransferQueue
    from rtui.core.files.service import HostFiles
    from rtui.core.jupyter.hub import HubProgress
    from rtui.core.jupyter.service import ServerKernels
    from rtui.core.kernels.host_api import KernelHost
    from rtui.core.kernels.service import Environment, HostKernels, ProgressCallback
    from rtui.core.slurm.settings import SlurmSettings
    from rtui.core.ssh.check import HostStatus
    from rtui.core.ssh.connection import HostConnection
    from rtui.core.ssh.manager import Connections
    from rtui.core.ssh.prompts import Prompter
    from rtui.core.ssh.route import Route
    from rtui.core.ssh.state import StateChange

__all__ = [
    "Checking",
    "ConfigReloaded",
    "InjectedHost",
    "KernelCount",
    "StatusChanged",
    "Workspace",
    "WorkspaceEvent",
]

log = logging.getLogger(__name__)


# -- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigReloaded:
    """The hosts are now ``config``; ``problem``: why the hosts file could not be read."""

    config: Config
    problem: str


@dataclass(frozen=True)
class Checking:
    """A check of these hosts began."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class StatusChanged:
    """A host's check ended with ``status``."""

    status: HostStatus


@dataclass(frozen=True)
class KernelCount:
    """The live kernels on a host, counted between checks."""

    name: str
    kernels: int


WorkspaceEvent = ConfigReloaded | Checking | StatusChanged | KernelCount
Subscriber = Callable[[WorkspaceEvent], None]


@dataclass(frozen=True)
class InjectedHost:
    """A host for this run only (never written to the hosts file), reached by a fixed
    ``route`` trusted through its own ``known_hosts`` file, with its console history kept in
    ``state_dir`` (the demo's: all of it in its temporary directory)."""

    host: Host
    route: Route
    known_hosts: Path
    state_dir: Path


# -- the workspace ---------------------------------------------------------------------------


class Workspace:
    """One per run. ``store`` None: the hosts are ``config`` and the injected ones, and
    nothing is written. ``prompter``: who an attempt to connect asks when its caller names
    nobody (the CLI's terminal); the TUI names its own for each use case."""

    def __init__(
        self,
        store: HostStore | None,
        *,
        config: Config | None = None,
        injected: Sequence[InjectedHost] = (),
        ssh_config: Path | None = None,
        prompter: Prompter | None = None,
        settings: Settings | None = None,
        auto_reconnect: bool = True,
        prefetch: bool = True,
    ) -> None:
        self.store = store
        self.injected = {i.host.name: i for i in injected}
        self.ssh_config = ssh_config
        self.prompter = prompter
        self.settings = settings
        self.auto_reconnect = auto_reconnect
        self.prefetch_after_check = prefetch
        self._fixed_config = config or Config()
        self.config = self._with_injected(self._fixed_config)
        self.problem = ""
        self.statuses: dict[str, HostStatus] = {}
        self.checking: set[str] = set()
        self._pool: Connections | None = None
        self._kernels: dict[str, HostKernels | ServerKernels] = {}
        self._asking: dict[str, Prompter] = {}  # who a Jupyter host's token question goes to
        self._files: dict[str, HostFiles] = {}
        self._environments: dict[str, HostEnvironments] = {}
        self._transfers: TransferQueue | None = None
        self._chosen: dict[str, str] = {}  # the Python picked for a host in this run
        self._subscribers: list[Subscriber] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- observing ---------------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every event; returns the function that stops it."""
        self._subscribers.append(subscriber)
        return lambda: (self._subscribers.remove(subscriber)
                        if subscriber in self._subscribers else None)

    def _emit(self, event: WorkspaceEvent) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # a subscriber's bug must not break the use case
                log.exception("workspace subscriber failed")

    # -- hosts and their services ------------------------------------------------------------

    def is_injected(self, name: str) -> bool:
        """Whether ``name`` is a host of this run only (not in the hosts file)."""
        injected = self.injected.get(name)
        return injected is not None and self.config.get(name) == injected.host

    def _state_root(self, name: str) -> Path:
        """Where what rtui remembers of host ``name`` goes (an injected host's: its own)."""
        return self.injected[name].state_dir if self.is_injected(name) else locations.state_dir()

    def history_path(self, name: str) -> Path:
        """Where the console input history of host ``name`` is kept."""
        return self._state_root(name) / "history" / f"{name}.jsonl"

    @property
    def connections(self) -> Connections:
        """The connection pool, made on first use (its module loads asyncssh: await
        :meth:`ready` first on an event loop that must not freeze)."""
        if self._pool is None:
            from rtui.core.ssh.manager import Connections, FixedRoute

            fixed = [FixedRoute(i.host, i.route, i.known_hosts) for i in self.injected.values()]
            self._pool = Connections(self.config, prompter=self.prompter,
                                     settings=self.settings, ssh_config=self.ssh_config,
                                     auto_reconnect=self.auto_reconnect, fixed=fixed)
        return self._pool

    async def ready(self) -> None:
        """The SSH and kernel modules imported, in a background thread."""
        await import_off_loop("rtui.core.ssh.manager")
        await import_off_loop("rtui.core.kernels.service")

    def _jupyter(self, name: str) -> bool:
        """Whether host ``name`` is a Jupyter server or hub (ConfigError: no such host)."""
        return self.config.require(name).jupyter is not None

    def connection(self, name: str) -> HostConnection:
        """The host's connection (made, not connected); ConfigError if the host is unknown."""
        return self.connections.get(name)

    async def kernels(self, name: str) -> KernelHost:
        """The host's kernel service, made on first use: an SSH host's (HostKernels) or a
        Jupyter server's (ServerKernels), one per host."""
        await self.ready()
        service = self._kernels.get(name)
        if service is None:
            host = self.config.require(name)
            if host.jupyter is not None:
                service = await self._server_kernels(host)
            else:
                from rtui.core.kernels.service import HostKernels

                service = HostKernels(self.connection(name), python=host.python,
                                      state_dir=self._state_root(name),
                                      reloading=reloading_of(host))
            self._kernels[name] = service
        return service

    async def ssh_kernels(self, name: str, *, what: str = "This") -> HostKernels:
        """The kernel service of SSH host ``name`` (its connection, agent and routes);
        RtuiError saying ``what`` is not available for a Jupyter host, which has none."""
        if self._jupyter(name):
            raise RtuiError(f"{what}: not available for a Jupyter server ({name} is one; "
                            "only SSH hosts have it)", title="Not available")
        kernels = await self.kernels(name)
        from rtui.core.kernels.service import HostKernels

        assert isinstance(kernels, HostKernels)
        return kernels

    async def _server_kernels(self, host: Host) -> ServerKernels:
        """The kernel service of a Jupyter host: its token source (asking whoever the last
        connect named), and its route over the ``via`` SSH host when it has one."""
        from rtui.core.jupyter.secrets import TokenSource
        from rtui.core.jupyter.service import ServerKernels

        settings = host.jupyter
        assert settings is not None
        via = None
        if settings.via:
            from rtui.core.jupyter.route import ViaRoute
            from rtui.core.jupyter.tls import ssl_context

            via_kernels = await self.ssh_kernels(settings.via)
            via = ViaRoute(via_kernels.routes, settings.url, name=host.name,
                           ssl_context=ssl_context(settings.ca_file))
        tokens = TokenSource(host.name, settings, ask=self._token_asker(host.name))
        return ServerKernels(host.name, settings, tokens, via=via,
                             state_dir=self._state_root(host.name))

    def _token_asker(self, name: str) -> Callable[[str], Coroutine[Any, Any, str | None]]:
        """How a Jupyter host's token is asked for: as a secret, of the prompter the last
        connect to it named (else the workspace's); nobody to ask: None."""
        async def ask(prompt: str) -> str | None:
            prompter = self._asking.get(name) or self.prompter
            if prompter is None:
                return None
            from rtui.core.ssh.prompts import SecretPrompt

            return await prompter.ask_secret(SecretPrompt(kind="token", target=name,
                                                          prompt=prompt))

        return ask

    async def files(self, name: str) -> HostFiles:
        """The host's files service, made on first use: it shares the host's connection and
        the agent of its kernels service (one of each per host)."""
        kernels = await self.ssh_kernels(name, what="Files")
        service = self._files.get(name)
        if service is None or service.agent is not kernels.agent:
            from rtui.core.files.service import HostFiles

            if service is not None:  # its kernels service was replaced (a reload)
                await service.close()
            service = HostFiles(kernels.connection, kernels.agent)
            self._files[name] = service
        return service

    async def environments(self, name: str) -> HostEnvironments:
        """The host's environments service, made on first use: it shares the host's kernels
        service (its connection, agent and the environment list consoles pick from)."""
        kernels = await self.ssh_kernels(name, what="Environments")
        service = self._environments.get(name)
        if service is None or service.kernels is not kernels:  # a reload replaced it
            from rtui.core.envs.service import HostEnvironments

            service = HostEnvironments(kernels)
            self._environments[name] = service
        return service

    @property
    def transfers(self) -> TransferQueue:
        """The run's transfer jobs (made on first use; they outlive the tab that started
        them, and stop, their parts kept, when the workspace closes)."""
        if self._transfers is None:
            from rtui.core.files.queue import TransferQueue

            self._transfers = TransferQueue(self)
        return self._transfers

    async def connect(self, name: str, prompter: Prompter | None, *,
                      on_progress: Callable[[HubProgress], None] | None = None) -> KernelHost:
        """The host's kernel service, its connection up; a login asks ``prompter``. A
        Jupyter host: its token asked of ``prompter`` when needed and checked (its
        kernelspecs listed); a hub's user server started first when it is not running
        (``on_progress`` hears the hub's events)."""
        if not self._jupyter(name):
            kernels = await self.ssh_kernels(name)
            await kernels.connection.connect(prompter=prompter)
            return kernels
        if prompter is not None:
            self._asking[name] = prompter
        settings = self.config.require(name).jupyter
        if settings is not None and settings.via:  # its login asks ``prompter`` too
            via = await self.ssh_kernels(settings.via)
            await via.connection.connect(prompter=prompter)
        server = await self.kernels(name)
        from rtui.core.jupyter.service import ServerKernels

        assert isinstance(server, ServerKernels)
        await server.connect(on_progress=on_progress)
        await server.environments()
        return server

    async def close(self) -> None:
        """Detach every kernel service (kernels keep running) and close every connection."""
        if self._transfers is not None:
            await self._transfers.close()
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        if tasks:  # cancelled, and awaited: nothing of theirs runs on after the close
            await asyncio.wait(tasks, timeout=5)
        for files in list(self._files.values()):
            with contextlib.suppress(Exception):
                await files.close()
        self._files.clear()
        self._environments.clear()
        for service in list(self._kernels.values()):
            with contextlib.suppress(Exception):
                await service.close()
        self._kernels.clear()
        self._asking.clear()
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close_all(), 5)

    # -- config ------------------------------------------------------------------------------

    def _with_injected(self, config: Config) -> Config:
        for injected in self.injected.values():
            if config.get(injected.host.name) is None:
                config = config.with_host(injected.host)
        return config

    async def reload(self, *, strict: bool = False) -> None:
        """Read the hosts file; a broken one is reported (``problem``; raised with
        ``strict``, the CLI's way) and nothing is lost. Connections and kernel services of
        hosts gone or now reached another way close."""
        config, problem = self._fixed_config, ""
        if self.store is not None:
            try:
                config = await asyncio.to_thread(self.store.load)
            except RtuiError as exc:
                if strict:
                    raise
                config, problem = Config(), str(exc)
        config = self._with_injected(config)
        self.config, self.problem = config, problem
        if self._pool is not None:
            await self._pool.update_config(config)
        for name, service in list(self._kernels.items()):
            entry = config.get(name)
            if entry is None or not self._still_serves(entry, service):
                await self._kernels.pop(name).close()  # gone, or reached another way
                files = self._files.pop(name, None)
                if files is not None:  # its SFTP client ran on that connection
                    await files.close()
                self._chosen.pop(name, None)  # a Python picked there means nothing here
                self._asking.pop(name, None)
                continue
            ssh = ssh_kernels(service)
            if ssh is not None:
                ssh.set_python(entry.configured_python)
                ssh.reloading = reloading_of(entry)  # for kernels started next
        for name in [n for n in self._chosen if config.get(n) is None]:
            del self._chosen[name]
        self._emit(ConfigReloaded(config, problem))

    def _still_serves(self, entry: Host, service: HostKernels | ServerKernels) -> bool:
        """Whether a kernel service made before a reload still serves host ``entry``: an
        SSH host's while the pool keeps its connection; a Jupyter host's while its settings
        (URL, token source, via...) are the same and its via host's connection is kept."""
        ssh = ssh_kernels(service)
        pool = self._pool
        if ssh is not None:
            return (entry.jupyter is None and pool is not None
                    and pool.existing(entry.name) is ssh.connection)
        from rtui.core.jupyter.service import ServerKernels

        assert isinstance(service, ServerKernels)
        if entry.jupyter != service.settings:
            return False
        via = service.via
        return via is None or (pool is not None
                               and pool.existing(via.via) is via.routes.connection)

    def _require_store(self) -> HostStore:
        if self.store is None:
            raise RtuiError("this run has no hosts file to change")
        return self.store

    async def _change(self, change: Callable[[Config], Config]) -> None:
        await asyncio.to_thread(self._require_store().update, change)
        await self.reload()

    async def save_host(self, old_name: str | None, host: Host) -> None:
        """Add (``old_name`` None) or replace a host in the file (locked, re-read, validated,
        written atomically)."""
        def change(config: Config) -> Config:
            return config.add_host(host) if old_name is None else config.replace_host(
                old_name, host)

        await self._change(change)

    async def edit_host(self, name: str, edit: Callable[[Host], Host]) -> Host:
        """Change host ``name`` as ``edit`` says, given the host as the file holds it under
        the lock (a rename too); the host as saved."""
        saved: list[Host] = []

        def change(config: Config) -> Config:
            host = edit(config.require(name))
            saved.append(host)
            return config.replace_host(name, host)

        await self._change(change)
        return saved[-1]

    async def delete_host(self, name: str) -> None:
        await self._change(lambda config: config.remove_host(name))

    async def import_ssh_config(self, path: Path | None = None, *,
                                update: bool = False) -> tuple[Path, ImportResult]:
        """Add the ssh config's hosts that are not in the file yet (``update``: refresh those
        it has too); where from, and what."""
        from rtui.core.config.importer import merge_imported
        from rtui.core.ssh.ssh_config import resolved_aliases

        path = path or self.ssh_config or locations.ssh_config_path()
        entries = await asyncio.to_thread(resolved_aliases, path)
        results: list[ImportResult] = []

        def change(config: Config) -> Config:
            merged, result = merge_imported(config, entries, update=update)
            results.append(result)
            return merged

        await self._change(change)
        return path, results[-1]

    def slurm_settings(self, name: str) -> SlurmSettings | None:
        """The job settings of host ``name`` (its ``slurm`` table), None when it is not a
        SLURM login node; ConfigError when no host has that name."""
        return self.config.require(name).slurm

    async def remember_python(self, name: str, python: str) -> None:
        """Write ``python`` as the host's interpreter: used from now on, in this run and the
        next."""
        def change(config: Config) -> Config:
            host = config.get(name)
            if host is None:
                raise RtuiError(f"{name} is no longer in the hosts file")
            return config.replace_host(name, dataclasses.replace(host, python=python))

        await self._change(change)

    # -- checks ------------------------------------------------------------------------------

    async def check(
        self, names: Sequence[str], *, prompter: Prompter | None,
        timeout: float | None = None, on_status: Callable[[HostStatus], None] | None = None,
    ) -> list[HostStatus]:
        """Check hosts concurrently; a login asks ``prompter`` (a NoPrompter: nobody, as the
        start-up check does). Each status is kept, announced, and passed to ``on_status`` as
        it comes; a reachable host is then got ready in the background (see prefetch)."""
        names = [n for n in names if self.config.get(n) is not None]
        self.checking.update(names)
        self._emit(Checking(tuple(names)))
        try:
            return await self._check(names, prompter, timeout, on_status)
        finally:
            self.checking.difference_update(names)  # also when cancelled or failed

    async def _check(
        self, names: list[str], prompter: Prompter | None, timeout: float | None,
        on_status: Callable[[HostStatus], None] | None,
    ) -> list[HostStatus]:
        await import_off_loop("rtui.core.ssh.manager")  # not the kernels' modules: not needed
        from rtui.core.ssh.check import CheckGates, HostStatus, check_host
        from rtui.core.ssh.state import ConnState

        settings = self.settings or self.config.settings
        gates = CheckGates(settings.check_concurrency)

        async def one(name: str) -> HostStatus:
            if self._jupyter(name):
                status = await self._check_server(name, timeout or settings.check_timeout,
                                                  prompter)
                self._checked(status, on_status)
                return status
            connection = self.connection(name)

            def connected(change: StateChange) -> None:
                # Start the agent as soon as the host lets us in, alongside the probe:
                # it is what a console needs first, and it takes a Python start-up.
                if change.state is ConnState.CONNECTED and self.prefetch_after_check:
                    self.spawn(self.prefetch(name, environments=False))

            unsubscribe = connection.subscribe(connected)
            try:
                host = self.config.get(name)
                extra = [host.configured_python] if host and host.configured_python else []
                status = await check_host(connection, timeout=timeout or settings.check_timeout,
                                          extra_pythons=extra, gates=gates, prompter=prompter)
            except Exception as exc:  # one host's bug must not stop the others
                log.exception("check of %s failed", name)
                status = HostStatus(name, error=str(exc), error_kind="error")
            finally:
                unsubscribe()
            self._checked(status, on_status)
            if status.ok and self.prefetch_after_check:
                self.spawn(self.prefetch(name, environments=self.ready_python(name) is None))
            return status

        return list(await asyncio.gather(*(one(n) for n in names)))

    def _checked(self, status: HostStatus,
                 on_status: Callable[[HostStatus], None] | None) -> None:
        """A host's check ended: its status kept, announced and handed on."""
        self.statuses[status.name] = status
        self.checking.discard(status.name)
        self._emit(StatusChanged(status))
        if on_status is not None:
            on_status(status)

    async def _check_server(self, name: str, timeout: float,
                            prompter: Prompter | None) -> HostStatus:
        """A Jupyter host's check (reachable, TLS, token, version, kernels) with its own
        clients, over its via host when it has one; a token question goes to ``prompter``
        (the start-up check's asks nobody) and the check never starts a hub's server."""
        from rtui.core.jupyter.check import check_server
        from rtui.core.jupyter.service import ServerKernels
        from rtui.core.ssh.check import HostStatus

        before = self._asking.get(name)
        if prompter is not None:
            self._asking[name] = prompter
        try:
            server = await self.kernels(name)
            assert isinstance(server, ServerKernels)
            return await check_server(self.config.require(name), server.tokens,
                                      timeout=timeout, client=server.client, hub=server.hub(),
                                      connector=server.connector())
        except RtuiError as exc:  # the via host's, say
            return HostStatus(name, error=str(exc), error_kind=getattr(exc, "error_kind",
                                                                       "error"))
        except Exception as exc:  # one host's bug must not stop the others
            log.exception("check of %s failed", name)
            return HostStatus(name, error=str(exc), error_kind="error")
        finally:
            if before is not None:
                self._asking[name] = before
            else:
                self._asking.pop(name, None)

    async def prefetch(self, name: str, *, environments: bool) -> None:
        """Get a reachable host ready, so a console opens without waiting: the agent
        started, the routes to its sockets decided, and the host's Pythons known when the
        environment choice will need them. A Jupyter host needs nothing (its kernelspecs
        are listed as a console asks)."""
        if self._jupyter(name):
            return
        kernels = await self.ssh_kernels(name)
        kernels.routes.prepare()  # a console's launch needs them first: decided by then
        with contextlib.suppress(RtuiError):
            await (kernels.environments() if environments else kernels.hello())

    async def count_kernels(self, name: str) -> None:
        """Count the host's live kernels after one started or stopped here (else the count
        would wait for the next check); a check under way counts them itself."""
        if not self._countable(name):
            return
        with contextlib.suppress(RtuiError):
            kernels = await self.kernels(name)
            live = sum(1 for record in await kernels.list() if record.alive)
            status = self.statuses.get(name)
            if status is not None and self._countable(name):
                self.statuses[name] = dataclasses.replace(status, kernels=live)
                self._emit(KernelCount(name, live))

    def _countable(self, name: str) -> bool:
        status = self.statuses.get(name)
        return status is not None and status.ok and name not in self.checking

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background, owned by the workspace (cancelled on close)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed", exc_info=task.exception())

    # -- which Python a console runs in ------------------------------------------------------

    def ready_python(self, name: str) -> str | None:
        """The Python a console on ``name`` starts in without asking, if one is known."""
        decision = choose_environment(self.config.get(name), self.statuses.get(name), None,
                                      self._chosen.get(name), pick=False)
        return decision.python if isinstance(decision, Run) else None

    async def environment_decision(
        self, name: str, *, pick: bool = False, spyder: bool = False,
    ) -> EnvironmentDecision:
        """What to start a kernel on ``name`` in (see :func:`choose_environment`); the host's
        environments are listed when the rule needs them (probed again with ``pick``)."""
        def decide(envs: Sequence[Environment] | None) -> EnvironmentDecision | ListEnvironments:
            return choose_environment(
                self.config.get(name), self.statuses.get(name), envs, self._chosen.get(name),
                pick=pick, spyder=spyder,
                can_remember=(not self.is_injected(name) and self.store is not None
                              and not self._jupyter(name)))  # a kernelspec is no python

        decision = decide(None)
        if isinstance(decision, ListEnvironments):
            kernels = await self.kernels(name)
            decision = decide(await kernels.environments(refresh=decision.refresh))
            assert not isinstance(decision, ListEnvironments)
            if isinstance(decision, Run):  # the only env there: used for the rest of the run
                self.chose(name, decision.python)
        return decision

    def chose(self, name: str, python: str) -> None:
        """Consoles on ``name`` use ``python`` for the rest of this run."""
        self._chosen[name] = python

    async def set_up(
        self, name: str, *, spyder: bool = False, offline: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> Environment:
        """Create rtui's own environment on the host with the kernel packages."""
        kernels = await self.ssh_kernels(name, what="Setting up an environment")
        return await kernels.setup(spyder=spyder, offline=offline, on_progress=on_progress)
