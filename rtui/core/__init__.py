"""The UI-free core of rtui: config, SSH, kernels, files.

Nothing under ``rtui.core`` may import Textual; a test enforces it.
"""
