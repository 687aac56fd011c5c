"""Host configuration: model, store, ssh-config import."""
