"""rtui's remote agent: what runs on a host, started over SSH and spoken to in JSON lines.

Standard library only, Python >= 3.8, and never an import of rtui: the package is shipped to the
host as one zipapp built by ``rtui.core.remote.bundle`` (where it is imported as
``rtui_agent``), so its modules import each other relatively. One module per concern:
``protocol`` (requests, replies, the loop), ``paths`` (where things live on the host, private
files), ``procs`` (processes), ``probe`` (asking an interpreter what it is), ``envs`` (finding
a host's Pythons), ``status`` (the host check's report), ``hello``, ``setup`` (rtui's venv) and
``kernels``; ``__main__`` serves them.
"""
