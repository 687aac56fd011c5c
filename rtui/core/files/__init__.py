"""Remote files: listing, file operations and transfers over a host's one connection
(SFTP, plus the agent's ``fs_*`` operations where SFTP has none)."""
