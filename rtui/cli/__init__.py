"""The command-line interface: drives the same core as the TUI, without a UI."""
