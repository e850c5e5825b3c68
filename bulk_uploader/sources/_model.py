"""What the sources hand to the rest of the program."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFAULT_MAX_SIZE",
    "ClientIdFrom",
    "Receipt",
    "Skipped",
    "SourceItem",
    "SourceOptions",
    "Unusable",
]

DEFAULT_MAX_SIZE = 10 * 1024 * 1024

ClientIdFrom = Literal["auto", "layout", "manifest", "content"]


@dataclass(frozen=True, slots=True)
class Receipt:
    """One receipt found in a source, ready to be sent.

    ``client_id`` is a normalised GUID (lower case, no braces). ``name`` is
    the file name sent to the cloud, exactly as in the source. ``origin``
    says where the receipt lies, as a person would write it
    (``exports/2023.zip:pos-1/r-0001.json``). ``read`` returns its bytes and
    raises ``UnreadableReceipt`` with a clear reason when it cannot; call it
    from the thread that iterates the source, before the iterator advances.
    """

    client_id: str
    license_id: str
    name: str
    size: int
    origin: str
    read: Callable[[], bytes] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Unusable:
    """An entry that looked like a receipt but cannot be sent, and why.

    ``client_id`` and ``name`` are filled in when they are known, so the
    report can group failures by client.
    """

    origin: str
    reason: str
    name: str | None = None
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry deliberately left out: operating-system junk or a filter."""

    origin: str
    reason: str


SourceItem = Receipt | Unusable | Skipped


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceOptions:
    """How to find receipts and which client and licence each belongs to."""

    client_id_from: ClientIdFrom = "auto"
    manifest: str | None = None
    clients_file: str | None = None
    license_id: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_size: int = DEFAULT_MAX_SIZE
