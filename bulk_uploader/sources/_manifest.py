"""The manifest: which client (and licence) each receipt file belongs to."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..errors import ManifestError
from ._guid import not_a_client, parse_guid
from ._paths import split_member
from ._tables import describe_header, read_table
from ._text import quote

__all__ = ["Manifest", "ManifestRow", "manifest_key"]

logger = logging.getLogger(__name__)

FILE, CLIENT, LICENCE = "file", "uniqueClientId", "accessLicenseId"
_ALIASES = {
    FILE: ("file", "path", "filename", "filepath"),
    CLIENT: ("uniqueclientid",),
    LICENCE: ("accesslicenseid", "accesslicenceid"),
}


def manifest_key(path: str) -> str:
    """A path as the manifest is indexed: ``/`` separators, no ``./``."""
    folder, name = split_member(path.strip())
    return f"{folder}/{name}" if folder else name


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """What one manifest row says about a file.

    ``problem`` is set when the row cannot be used for the file it names
    (a client id that is not a GUID, the same file given two clients).
    """

    line: int
    client_id: str | None
    license_id: str | None
    problem: str | None = None


class Manifest:
    """Rows of a manifest, looked up by a receipt's path or bare name.

    A row's ``file`` is a path relative to the source the receipt lies in
    (``pos-1/r-1.json``, or ``day.zip:pos-1/r-1.json`` for an archive inside
    a folder), the receipt's origin (``exports/pos-1/r-1.json``, the source
    as named on the command line followed by that path), or a bare file
    name, which matches that name anywhere.
    """

    def __init__(self, path: str, *, need_client: bool) -> None:
        table = read_table(path, _ALIASES, what="manifest")
        if FILE not in table.columns or not (
            CLIENT in table.columns or LICENCE in table.columns
        ):
            needed = f"{FILE!r} (or 'path', 'filename') and {CLIENT!r}"
            if not need_client:
                needed += f" or {LICENCE!r}"
            raise ManifestError(
                f"manifest {path} has no usable header line: it needs the "
                f"columns {needed}; its first line has {describe_header(table.header)}"
            )
        if need_client and CLIENT not in table.columns:
            raise ManifestError(
                f"manifest {path} has no {CLIENT!r} column, which "
                "--client-id-from manifest needs"
            )

        self.path = path
        self._rows: dict[str, ManifestRow] = {}
        self._found: set[str] = set()
        for line, fields in table.rows():
            self._add(line, fields, table.columns)
        if not self._rows:
            logger.warning(
                "manifest %s maps no files: it has a header line and no rows "
                "that name a file",
                path,
            )

    def _add(self, line: int, fields: list[str], columns: dict[str, int]) -> None:
        def field(column: str) -> str:
            index = columns.get(column)
            if index is None or index >= len(fields):
                return ""
            return fields[index].strip()

        key = manifest_key(field(FILE))
        if not key:
            return
        client_text, licence = field(CLIENT), field(LICENCE) or None
        client = parse_guid(client_text) if client_text else None
        problem = None
        if client_text and client is None:
            shown = f"{quote(client_text)} {not_a_client(client_text)}"
            problem = f"manifest line {line}: uniqueClientId {shown}"
        row = ManifestRow(line, client, licence, problem)

        earlier = self._rows.get(key)
        if earlier is not None and (earlier.client_id, earlier.license_id) != (
            client,
            licence,
        ):
            row = ManifestRow(
                line,
                None,
                None,
                f"manifest lines {earlier.line} and {line} give {quote(key, 200)} "
                "different clients or licences; name the file by its path to "
                "tell them apart",
            )
        self._rows[key] = row

    def __len__(self) -> int:
        return len(self._rows)

    def find(self, *keys: str) -> ManifestRow | None:
        """The row for the first of ``keys`` the manifest lists, if any."""
        for key in keys:
            row = self._rows.get(key)
            if row is not None:
                self._found.add(key)
                return row
        return None

    def forget_found(self) -> None:
        """Start counting found files afresh (a new walk over the sources)."""
        self._found.clear()

    def missing(self) -> list[str]:
        """Files the manifest names that no walk has found, in its order."""
        return [key for key in self._rows if key not in self._found]
