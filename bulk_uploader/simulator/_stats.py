"""What the simulator saw: call counts per endpoint, accepted receipts."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Ledger", "ReceivedReceipt", "SimulatorStats"]

Endpoint = Literal["logon", "licence", "upload"]
ENDPOINTS: tuple[Endpoint, ...] = ("logon", "licence", "upload")
Via = Literal["form", "query"]

#: The status under which a dropped connection (no answer at all) is counted.
DROPPED = 0
#: The status under which an upload is counted whose client hung up mid-body.
CLIENT_GONE = 499


@dataclass(frozen=True, slots=True)
class ReceivedReceipt:
    """One accepted upload, without its content."""

    client_id: str
    name: str
    size: int
    sha256: str
    received_at: float
    via: Via


@dataclass
class SimulatorStats:
    """A snapshot of the simulator's counters, detached from the live state."""

    calls: dict[str, dict[int, int]] = field(default_factory=dict)
    licence_calls: dict[str, int] = field(default_factory=dict)
    receipts: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    bytes_received: int = 0

    def total(self, endpoint: str, status: int | None = None) -> int:
        """Calls to ``endpoint``, all of them or only those answered ``status``."""
        by_status = self.calls.get(endpoint, {})
        if status is None:
            return sum(by_status.values())

        return by_status.get(status, 0)

    def to_dict(self) -> dict[str, object]:
        """The same numbers with string keys, ready for ``json.dumps``."""
        return {
            "calls": {
                endpoint: {str(status): n for status, n in sorted(by_status.items())}
                for endpoint, by_status in sorted(self.calls.items())
            },
            "licence_calls": dict(sorted(self.licence_calls.items())),
            "receipts": dict(sorted(self.receipts.items())),
            "accepted": sum(self.receipts.values()),
            "duplicates": self.duplicates,
            "bytes_received": self.bytes_received,
        }


# One accepted upload as kept in memory: (client, name, size, digest, time,
# via form). A tuple with a raw 32-byte digest costs a fraction of a
# dataclass holding a 64-character hex string, and benchmarks keep millions.
_Record = tuple[str, str, int, bytes, float, bool]


class Ledger:
    """The live counters; touched only from the simulator's event loop."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        # Every endpoint is present from the start, so that a test can read
        # stats.calls["licence"] before the first licence call is made.
        self._calls: dict[str, dict[int, int]] = {e: {} for e in ENDPOINTS}
        self._licence_calls: dict[str, int] = {}
        self._receipts: dict[str, int] = {}
        self._duplicates = 0
        self._bytes = 0
        self._records: list[_Record] = []
        self._seen: set[tuple[str, str, bytes]] = set()

    @property
    def accepted(self) -> int:
        return len(self._records)

    def count_call(self, endpoint: Endpoint, status: int) -> None:
        by_status = self._calls[endpoint]
        by_status[status] = by_status.get(status, 0) + 1

    def count_licence_call(self, client_id: str) -> None:
        self._licence_calls[client_id] = self._licence_calls.get(client_id, 0) + 1

    def accept(
        self,
        client_id: str,
        name: str,
        size: int,
        digest: bytes,
        received_at: float,
        via_form: bool,
    ) -> None:
        """Record one accepted upload and whether it repeats an earlier one."""
        # Thousands of receipts share one client id: keep one string for all.
        client_id = sys.intern(client_id)
        key = (client_id, name, digest)
        if key in self._seen:
            self._duplicates += 1
        else:
            self._seen.add(key)
        self._records.append((client_id, name, size, digest, received_at, via_form))
        self._receipts[client_id] = self._receipts.get(client_id, 0) + 1
        self._bytes += size

    def stats(self) -> SimulatorStats:
        return SimulatorStats(
            calls={endpoint: dict(c) for endpoint, c in self._calls.items()},
            licence_calls=dict(self._licence_calls),
            receipts=dict(self._receipts),
            duplicates=self._duplicates,
            bytes_received=self._bytes,
        )

    def received(self) -> list[ReceivedReceipt]:
        return [
            ReceivedReceipt(
                client_id=client_id,
                name=name,
                size=size,
                sha256=digest.hex(),
                received_at=received_at,
                via="form" if via_form else "query",
            )
            for client_id, name, size, digest, received_at, via_form in self._records
        ]
