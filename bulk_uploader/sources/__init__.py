"""Finding receipts in folders and archives, with their client and licence."""

from ._guid import parse_guid
from ._model import (
    DEFAULT_MAX_SIZE,
    ClientIdFrom,
    Receipt,
    Skipped,
    SourceItem,
    SourceOptions,
    Unusable,
)
from ._source import ReceiptSource

__all__ = [
    "DEFAULT_MAX_SIZE",
    "ClientIdFrom",
    "Receipt",
    "ReceiptSource",
    "Skipped",
    "SourceItem",
    "SourceOptions",
    "Unusable",
    "parse_guid",
]
