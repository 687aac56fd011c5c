"""SSH: one connection per host, auth through prompts, host-key trust, jump chains, checks."""
