"""``python -m benchmarks.farlink.relay_process HOST PORT``: the relay of ``link.FarLink``
in a process of its own; prints its port, then answers ``delay SECONDS`` and ``quit`` on
stdin with ``ok`` (and ``bandwidth BYTES_PER_SECOND``, 0 for none: the files benchmark's)."""

from __future__ import annotations

import asyncio
import sys


async def _serve(target_host: str, target_port: int) -> None:
    from tests.harness.relay import TCPRelay

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with TCPRelay(target_host, target_port) as relay:
        print(relay.port, flush=True)
        while line := (await reader.readline()).decode():
            command, _, value = line.strip().partition(" ")
            if command == "delay":
                relay.delay = float(value)
            elif command == "bandwidth":
                relay.bandwidth = float(value) or None
            elif command == "quit":
                print("ok", flush=True)
                break
            else:
                print(f"unknown command {command!r}", flush=True)
                continue
            print("ok", flush=True)


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], int(sys.argv[2])))
