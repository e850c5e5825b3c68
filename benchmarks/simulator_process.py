"""The simulator in a process of its own, steered over stdin and stdout.

Run as a script by ``benchmarks._server``: it prints ``{"url": ...}`` once
it listens on 127.0.0.1, then answers one JSON line per JSON command line:

* ``{"op": "configure", "fields": {...}}``: set ``SimulatorConfig`` fields
  (they take effect from the next request);
* ``{"op": "reset"}``: forget counters and received receipts (issued
  licence tokens stay valid);
* ``{"op": "stats"}``: the counters, as ``GET /_simulator/stats`` shows them;
* ``{"op": "arrivals"}``: the arrival time of every accepted receipt, in
  order (the HTTP stats page does not show these).

It stops when its stdin closes. Kept in its own process so that the CPU
time of the client under test is measured without the server's.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import anyio.to_thread

from bulk_uploader.simulator import Simulator, SimulatorConfig


def _answer(simulator: Simulator, command: dict[str, Any]) -> object:
    op = command.get("op")
    if op == "configure":
        for name, value in command["fields"].items():
            if not hasattr(simulator.config, name):
                return {"error": f"no simulator setting {name!r}"}
            setattr(simulator.config, name, value)
        return {"ok": True}
    if op == "reset":
        simulator.reset()
        return {"ok": True}
    if op == "stats":
        return simulator.stats().to_dict()
    if op == "arrivals":
        return [receipt.received_at for receipt in simulator.received()]
    return {"error": f"unknown command {op!r}"}


async def _serve() -> None:
    async with Simulator(SimulatorConfig(), host="127.0.0.1", port=0) as simulator:
        print(json.dumps({"url": simulator.url}), flush=True)
        while line := await anyio.to_thread.run_sync(sys.stdin.readline):
            reply = _answer(simulator, json.loads(line))
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    anyio.run(_serve)
