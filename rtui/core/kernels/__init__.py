"""Jupyter kernel clients: typed events and a session over a (forwarded) connection."""
