"""The Textual UI: screens, widgets and modals on top of ``rtui.core``."""

import os

# Textual repaints at most MAX_FPS times a second (60 unless TEXTUAL_FPS says otherwise), so
# a change waits up to 17 ms for its frame: most of the time from Enter to `Out[n]` on
# screen. 240 makes that 4 ms; floods are still paced by ConsoleView (30 repaints a second),
# and the only animation (the tab underline, 0.3 s on a tab switch) costs little more.
# Read when Textual is first imported; a value the person set is kept.
os.environ.setdefault("TEXTUAL_FPS", "240")
