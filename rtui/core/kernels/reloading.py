"""Module reloading in the kernels rtui starts: a host's ``autoreload`` setting turned into
what the kernel needs, the code that sets it up and, for spyder-kernels, the environment
of its User Module Reloader.

Both kernel kinds get IPython's ``%autoreload`` (mode 2 or 3): before each cell it reloads
the modules whose files changed, in place (old objects see the new code). Spyder's UMR acts
only in ``%runfile``/``%debugfile`` (spyder_kernels/customize/code_runner.py ``_exec_file``):
it deletes the user's modules there so the script imports them afresh; Spyder itself also
runs ``%autoreload 2`` for plain cells (its ``autoreload_magic`` option), as this does.

The kernel prints which modules were reloaded, on one dim line before the cell's output
("Reloaded modules: pkg.mod, other"); the console decodes SGR escapes, so no console change
is needed. The names come from autoreload's own record of module mtimes: a module whose
recorded mtime changed during autoreload's ``pre_run_cell`` check was reloaded (unless it is
in its ``failed`` record, whose error autoreload prints itself). That record exists from
IPython 7 to 9; the ``--print``/``--log`` options exist only from IPython 8.11, and an older
``%autoreload`` takes "2 --log" for an unknown mode and silently does nothing, so they are
not used. UMR's own line is turned off (``SPY_UMR_VERBOSE``): an edited module is named by
the line above before a ``%runfile`` runs, and UMR's would name it again.

When autoreload cannot be set up (an IPython without it, mode 3 before IPython 8), the first
cell says so on one dim line instead; nothing raises (the setup runs as a silent request,
whose output nobody sees, so the note waits for a cell).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from rtui.core.config.model import Host

__all__ = ["Reloading", "reloading_of"]


@dataclass(frozen=True)
class Reloading:
    """A host's module reloading: ``mode`` "2", "3" or "off"; ``exclude``: modules left
    alone: a module with one of them anywhere in its dotted name (Spyder's UMR rule)."""

    mode: str = "2"
    exclude: tuple[str, ...] = ()

    @property
    def on(self) -> bool:
        return self.mode != "off"

    def setup_code(self) -> str | None:
        """The code that sets reloading up in a kernel (sent silently); None when off."""
        if not self.on:
            return None
        call = f"_rtui_reloading({self.mode!r}, {json.dumps(list(self.exclude))})"
        return (f"{_SETUP}\ntry:\n    {call}\nfinally:\n"
                "    del _rtui_reloading, _rtui_library_roots\n")

    def launch_env(self, kind: str) -> dict[str, str]:
        """Environment for a kernel of ``kind`` launched now: spyder-kernels read their
        UMR's switches from it once, at start (a restart keeps the launch's environment)."""
        if kind != "spyder":
            return {}
        env = {"SPY_UMR_ENABLED": "True" if self.on else "False", "SPY_UMR_VERBOSE": "False"}
        if self.exclude:
            env["SPY_UMR_NAMELIST"] = ",".join(self.exclude)
        return env


def reloading_of(host: Host) -> Reloading:
    return Reloading(host.autoreload, host.autoreload_exclude)


# Runs in the kernel: plain Python 3.6+ and IPython 7+, nothing of rtui's. Idempotent (a
# second setup in the same kernel does nothing), never raises; its two functions are
# deleted from the user's namespace once it ran. Installed libraries (stdlib, site-packages)
# are never checked: autoreload would stat every module of them before every cell (~900
# in a bare kernel, 4-17 ms a cell here), and Spyder's UMR leaves them alone too.
_SETUP = r'''
def _rtui_library_roots():
    import os
    import site
    import sysconfig
    roots = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(paths.get(key))
    for get in ("getsitepackages", "getusersitepackages"):
        try:
            found = getattr(site, get)()
        except Exception:  # an old virtualenv's site has neither
            continue
        roots.update([found] if isinstance(found, str) else found)
    roots = [r for r in roots if r]
    return tuple(os.path.join(p, "") for p in set(roots + [os.path.realpath(r) for r in roots]))


def _rtui_reloading(mode, exclude):
    import os
    import sys
    ip = get_ipython()  # noqa: F821 (the kernel's)
    if getattr(ip, "_rtui_reloading", False):
        return
    ip._rtui_reloading = True
    dim = "\x1b[2m{}\x1b[0m"

    def note_once(text):
        def show(*args):
            ip.events.unregister("pre_run_cell", show)
            print(dim.format(text))
        ip.events.register("pre_run_cell", show)

    try:
        loaded = ip.extension_manager.load_extension("autoreload")
        magics = ip.magics_manager.registry.get("AutoreloadMagics")
        if magics is None:
            raise RuntimeError("the extension did not load: {}".format(loaded))
        reloader = magics._reloader
        if not reloader.enabled:  # else someone's own %autoreload is kept
            if mode == "3" and not hasattr(reloader, "autoload_obj"):
                import IPython
                note_once("autoreload 3 needs IPython 8 (this kernel has {}): modules are "
                          "reloaded as with autoreload 2".format(IPython.__version__))
                mode = "2"
            ip.run_line_magic("autoreload", mode)
        if not reloader.enabled:
            raise RuntimeError("%autoreload {} did not turn it on".format(mode))
    except Exception as exc:
        why = "{}: {}".format(type(exc).__name__, exc).splitlines()[0]
        note_once("Module reloading is off in this kernel: IPython's autoreload could not "
                  "be set up ({})".format(why))
        return

    libraries = _rtui_library_roots()

    def left_alone(name, module):
        if exclude and not set(name.split(".")).isdisjoint(exclude):
            return True
        path = getattr(module, "__file__", None)
        return not path or path.startswith(libraries) or (
            os.path.realpath(path).startswith(libraries))

    seen = set()
    watched = set()  # the user's modules: the only ones autoreload checks
    last = {}

    def skip_libraries(*args):
        new = set(sys.modules) - seen
        seen.update(new)
        for name in new:
            if left_alone(name, sys.modules.get(name)):
                reloader.mark_module_skipped(name)
            else:
                watched.add(name)

    def remember(*args):
        mtimes = reloader.modules_mtimes
        last.clear()
        last.update((name, mtimes.get(name)) for name in watched)

    def report(*args):
        mtimes, names = reloader.modules_mtimes, []
        for name, before in last.items():
            mtime = mtimes.get(name)
            if before is None or mtime == before:
                continue
            module = sys.modules.get(name)
            path = None if module is None else reloader.filename_and_mtime(module)[0]
            if reloader.failed.get(path) != mtime:
                names.append(name)
        remember()
        if names:
            print(dim.format("Reloaded modules: " + ", ".join(sorted(names))))

    skip_libraries()
    remember()
    ip.events.register("post_execute", skip_libraries)  # after autoreload's own
    # After autoreload's pre_run_cell (registered first): what it reloaded, before the
    # cell's own output; post_run_cell: what a cell's own %autoreload did is not named later.
    ip.events.register("pre_run_cell", report)
    ip.events.register("post_run_cell", remember)
'''.strip("\n") + "\n"
