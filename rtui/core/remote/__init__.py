"""Code that runs on (or talks to) the remote host."""
