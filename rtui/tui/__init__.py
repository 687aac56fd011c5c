"""The Textual UI: screens, widgets and modals on top of ``rtui.core``."""
