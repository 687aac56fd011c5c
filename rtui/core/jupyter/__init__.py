"""Jupyter Server and JupyterHub hosts: settings, REST and websocket clients, kernels."""
