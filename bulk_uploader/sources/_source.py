"""ReceiptSource: every receipt in the folders and archives a person names."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator, Sequence
from typing import Any, get_args

from ..errors import ConfigError, UnreadableReceipt
from ._clients import read_clients
from ._count import count_items
from ._files import file_kind
from ._filters import PathFilter
from ._guid import NIL_GUID, not_a_client, parse_guid
from ._manifest import Manifest, ManifestRow, manifest_key
from ._model import ClientIdFrom, Receipt, SourceItem, SourceOptions, Unusable
from ._paths import ARCHIVE_SUFFIXES, archive_kind
from ._text import quote
from ._walk import Found, Walker, hold

__all__ = ["ReceiptSource"]

_CONTENT_FIELD = "uniqueClientId"
_NO_LICENCE = (
    "no accessLicenseId for client {client}: give one with --clients FILE, "
    "an accessLicenseId column in the manifest, or --license-id"
)


class ReceiptSource:
    """The receipts in a mix of folders and archives, found lazily.

    Paths, the manifest and the clients file are checked when the source
    is made, so that a mistake stops the run before anything is sent.
    Iterating yields a ``Receipt``, ``Unusable`` or ``Skipped`` for every
    entry, in a stable order (sources as given; folders sorted by name;
    archives in their own order), holding at most one receipt's bytes.
    """

    def __init__(
        self, paths: Sequence[str | os.PathLike[str]], options: SourceOptions
    ) -> None:
        if options.client_id_from not in get_args(ClientIdFrom):
            raise ConfigError(
                f"unknown client id source {options.client_id_from!r}: choose "
                f"one of {', '.join(get_args(ClientIdFrom))}"
            )
        if options.client_id_from == "manifest" and not options.manifest:
            raise ConfigError("taking client ids from a manifest needs --manifest FILE")
        if options.max_size <= 0:
            raise ConfigError(
                f"the size limit must be positive, not {options.max_size}"
            )
        self._roots = _check_roots(paths)

        self._mode: ClientIdFrom = options.client_id_from
        self._manifest = (
            Manifest(options.manifest, need_client=self._mode == "manifest")
            if options.manifest
            else None
        )
        self._licences = (
            read_clients(options.clients_file) if options.clients_file else {}
        )
        self._default_licence = (options.license_id or "").strip() or None
        self._max_size = options.max_size
        # Immutable, so counting in another thread may share it with walking.
        self._filter = PathFilter(options.include, options.exclude)
        self._walker = Walker(
            self._filter,
            max_size=options.max_size,
            config_files=_identities(options.manifest, options.clients_file),
        )

    def __iter__(self) -> Iterator[SourceItem]:
        if self._manifest is not None:
            self._manifest.forget_found()
        for root in self._roots:
            for item in self._walker.walk(root):
                yield self._resolve(item) if isinstance(item, Found) else item

    def count_cheaply(self) -> int | None:
        """How many items iterating this source will yield, if that is cheap to know.

        Counted from folder listings and zip central directories, reading no
        receipt: exact for folders and zips as they are now (an archive that
        cannot be opened counts as its one ``Unusable``). ``None`` when a tar
        archive would be opened, as only decompressing it would count it.
        Safe to call from another thread while the source is iterated: it
        opens its own files and shares no state that iterating changes.
        """
        try:
            return count_items(self._roots, self._filter)
        except OSError:
            # Every I/O failure is counted where it happens; this guards the
            # progress bar against one that slipped through.
            return None

    def missing_from_manifest(self) -> list[str]:
        """Files the manifest names that the last walk did not find."""
        return self._manifest.missing() if self._manifest is not None else []

    def _resolve(self, found: Found) -> Receipt | Unusable:
        row = None
        if self._manifest is not None:
            row = self._manifest.find(
                found.inner, found.path, manifest_key(found.origin), found.name
            )
        client, why_not = self._client_from_names(found, row)

        problem = found.problem or self._size_problem(found.size)
        if problem is not None:
            return Unusable(found.origin, problem, found.name, client)

        read = found.read
        if client is None and self._mode in ("content", "auto"):
            try:
                content = read()
            except UnreadableReceipt as exc:
                return Unusable(found.origin, exc.message, found.name)
            client, reason = _client_from_content(content)
            why_not.append(reason)
            read = hold(content)
        if client is None:
            reason = "no client id: " + "; ".join(why_not)
            return Unusable(found.origin, reason, found.name)

        licence = self._licences.get(client)
        if licence is None and row is not None:
            licence = row.license_id
        licence = licence or self._default_licence
        if licence is None:
            reason = _NO_LICENCE.format(client=client)
            return Unusable(found.origin, reason, found.name, client)
        return Receipt(client, licence, found.name, found.size, found.origin, read)

    def _client_from_names(
        self, found: Found, row: ManifestRow | None
    ) -> tuple[str | None, list[str]]:
        why_not: list[str] = []
        if self._mode in ("layout", "auto"):
            if found.layout_client is not None:
                return found.layout_client, why_not
            why_not.append(_no_layout_client(found.origin))
        if self._mode == "manifest" or (self._mode == "auto" and self._manifest):
            if row is not None and row.client_id is not None:
                return row.client_id, why_not
            why_not.append(_manifest_why_not(row, self._manifest))
        return None, why_not

    def _size_problem(self, size: int) -> str | None:
        if size == 0:
            return "empty file (0 bytes)"
        if size > self._max_size:
            return f"{size} bytes, over the size limit of {self._max_size} bytes"
        return None


def _check_roots(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    if not paths:
        raise ConfigError("no folder or archive to read receipts from")
    roots: list[str] = []
    seen: set[str] = set()
    for given in paths:
        root = os.fspath(given)
        try:
            mode = os.stat(root).st_mode
        except FileNotFoundError:
            raise ConfigError(f"{root} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {root}: {exc.strerror or exc}") from exc
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            # Opening a FIFO or a device could wait forever: refuse it unread.
            raise ConfigError(
                f"{root} is {file_kind(mode)}, not a folder or an archive file"
            )
        if not stat.S_ISDIR(mode) and archive_kind(root) is None:
            raise ConfigError(
                f"{root} is neither a folder nor a supported archive "
                f"({', '.join(ARCHIVE_SUFFIXES)})"
            )
        # The same source named twice would send every receipt twice.
        real = os.path.realpath(root)
        if real not in seen:
            seen.add(real)
            roots.append(root)
    return roots


def _identities(*paths: str | None) -> frozenset[tuple[int, int]]:
    identities = set()
    for path in paths:
        if path:
            try:
                status = os.stat(path)
            except OSError:
                continue  # already reported when the file was read
            identities.add((status.st_dev, status.st_ino))
    return frozenset(identities)


def _manifest_why_not(row: ManifestRow | None, manifest: Manifest | None) -> str:
    if row is None:
        where = manifest.path if manifest is not None else "the manifest"
        return f"not listed in the manifest {where}"
    if row.problem is not None:
        return row.problem
    return f"manifest line {row.line} gives no uniqueClientId"


def _no_layout_client(origin: str) -> str:
    if NIL_GUID in origin.lower():
        return (
            "the only GUID on its path is the nil GUID (all zeros), which names "
            "no client"
        )
    return "no folder on its path is named by a GUID"


class _JsonNumber(str):
    """A JSON number kept as its text: Python refuses to make ints of more
    than 4300 digits, and a receipt's numbers are never needed here."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str.__str__(self)


class _JsonObject(dict[str, Any]):
    """A JSON object that knows whether it gave uniqueClientId twice, with
    different values (``json`` would silently keep the last)."""

    __slots__ = ("conflict",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.conflict = False
        if len(self) < len(pairs):
            values = [value for key, value in pairs if key == _CONTENT_FIELD]
            self.conflict = any(value != values[0] for value in values[1:])


_DECODER = json.JSONDecoder(parse_int=_JsonNumber, parse_float=_JsonNumber)
_CAREFUL_DECODER = json.JSONDecoder(
    parse_int=_JsonNumber, parse_float=_JsonNumber, object_pairs_hook=_JsonObject
)


def _client_from_content(content: bytes) -> tuple[str | None, str]:
    missing = "no top-level uniqueClientId field in the receipt"
    # A byte search first: most receipts answer here, without parsing JSON.
    field = _CONTENT_FIELD.encode()
    if field not in content:
        return None, missing
    # Look for repeated keys only where one can be: the field written twice,
    # or spelled with \u escapes.
    careful = content.count(field) > 1 or b"\\u" in content
    decoder = _CAREFUL_DECODER if careful else _DECODER
    try:
        # As json.loads does with bytes, but with a decoder made once.
        text = content.decode(json.detect_encoding(content), "surrogatepass")
        document = decoder.decode(text)
    except (ValueError, RecursionError):
        return None, "the receipt is not valid JSON, so it has no uniqueClientId"
    if not isinstance(document, dict) or _CONTENT_FIELD not in document:
        return None, missing
    if isinstance(document, _JsonObject) and document.conflict:
        return None, "uniqueClientId appears twice with different values"
    value = document[_CONTENT_FIELD]
    client = parse_guid(value) if type(value) is str else None
    if client is None:
        why = not_a_client(value) if type(value) is str else "is not a GUID"
        return None, f"uniqueClientId {quote(value)} in the receipt {why}"
    return client, ""
