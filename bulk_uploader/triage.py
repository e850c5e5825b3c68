"""Which receipts go out: the journal, the shard and --retry-failed decide.

A receipt already uploaded is skipped; one that failed for a passing reason
(or was deferred) goes out again; one that failed for good goes out again
only with ``--retry-failed`` (all of them, or those listed in a
``--failures`` file). With ``--shard I/N`` only the clients whose stable
hash falls on this worker are sent, so each client's licence token has one
owner.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Literal

from bulk_uploader.journal import Journal, Outcome
from bulk_uploader.report import read_failure_keys
from bulk_uploader.settings import Shard, UploadSettings

if TYPE_CHECKING:
    from bulk_uploader.pipeline import Prepared

__all__ = ["Decision", "Triage"]

Decision = Literal["send", "done", "failed-before", "other-shard"]


class Triage:
    """Decides, from the journal and the options, whether a receipt goes out."""

    def __init__(self, settings: UploadSettings, journal: Journal | None) -> None:
        self._journal = journal
        self._shard = settings.shard
        self._retry_all = settings.retry_failed is True
        self._retry_keys: set[tuple[str, str, str]] = set()
        if not isinstance(settings.retry_failed, bool):
            self._retry_keys = read_failure_keys(settings.retry_failed)
        self._shard_of: dict[str, bool] = {}

    def decide(self, prepared: Prepared) -> tuple[Decision, Outcome | None]:
        client_id = prepared.receipt.client_id
        if self._shard is not None and not self._in_shard(client_id, self._shard):
            return "other-shard", None
        if self._journal is None:
            return "send", None

        earlier = self._journal.lookup(prepared.key)
        if earlier is None or earlier.status == "deferred":
            return "send", earlier
        if earlier.status == "uploaded":
            return "done", earlier
        if not earlier.permanent or self._retry_all:
            return "send", earlier
        wanted = (client_id, prepared.receipt.name)
        if (*wanted, prepared.digest.hex()) in self._retry_keys or (
            *wanted,
            "",
        ) in self._retry_keys:
            return "send", earlier
        return "failed-before", earlier

    def _in_shard(self, client_id: str, shard: Shard) -> bool:
        mine = self._shard_of.get(client_id)
        if mine is None:
            digest = hashlib.sha256(client_id.encode()).digest()
            mine = int.from_bytes(digest[:8], "big") % shard.count == shard.index
            self._shard_of[client_id] = mine
        return mine
