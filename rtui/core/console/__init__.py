"""The console's output as data: kernel events become a bounded buffer of styled lines.

UI-free (no Textual): widgets read lines from here and repaint at their own frame rate.
"""
