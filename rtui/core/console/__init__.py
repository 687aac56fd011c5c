"""The console's output as data: kernel events become a bounded buffer of styled lines.

UI-free (no Textual): widgets read lines from here and repaint at their own frame rate.
``lines`` (one stored line), ``ansi`` (terminal text to lines), ``bundles`` (a mimebundle to
lines), ``buffer`` (numbering, bounds, change log), ``model`` (what each event writes),
``history`` (what was typed).
"""
