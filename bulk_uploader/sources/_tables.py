"""Reading the CSV tables people make: any of three delimiters, any encoding."""

from __future__ import annotations

import codecs
import csv
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ManifestError
from ._files import read_config
from ._text import decode_lenient, shorten

if TYPE_CHECKING:
    from _csv import Reader as _Reader

__all__ = ["Table", "describe_header", "normalise_header", "read_table"]

logger = logging.getLogger(__name__)

_DELIMITERS = (",", ";", "\t")


def describe_header(header: list[str]) -> str:
    """A header line as a message quotes it: printable and short, even when
    the file is not a table at all."""
    return shorten(", ".join(repr(name) for name in header)) or "nothing"


def normalise_header(name: str) -> str:
    """Fold a column name so ``Unique Client-ID`` equals ``uniqueclientid``."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


@dataclass(frozen=True, slots=True)
class Table:
    """A decoded table: where each wanted column is, and the rows under it."""

    path: str
    what: str
    header: list[str]
    columns: dict[str, int]
    text: str
    delimiter: str

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Yield ``(line_number, fields)`` for each non-blank row after the header.

        Raises ``ManifestError`` where the text cannot be read as CSV.
        """
        reader = csv.reader(_stream(self.text), delimiter=self.delimiter)
        seen_header = False
        with _csv_errors(self.path, self.what, reader):
            for fields in reader:
                if not any(field.strip() for field in fields):
                    continue
                if seen_header:
                    yield reader.line_num, fields
                else:
                    seen_header = True


@contextmanager
def _csv_errors(path: str, what: str, reader: _Reader) -> Iterator[None]:
    try:
        yield
    except csv.Error as exc:
        # csv refuses a field over csv.field_size_limit() (128 KiB): no file
        # name is that long, so such a file is not the table it should be.
        raise ManifestError(
            f"{what} {path}, line {reader.line_num}: cannot be read as a CSV "
            f"table ({exc}); is this the right file?"
        ) from exc


def _stream(text: str) -> io.StringIO:
    # newline="" hands csv the line endings, so quoted fields may span lines
    # and only CR and LF end a line (not the other Unicode line breaks).
    return io.StringIO(text, newline="")


def _decode(path: str, data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" export: UTF-16 with a byte order mark.
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ManifestError(f"{path} is not valid UTF-16 text: {exc}") from exc
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    text, codec = decode_lenient(data)
    if codec != "utf-8":
        logger.warning("%s is not UTF-8; reading it as Windows-1252", path)
    return text


def _first_row(path: str, what: str, text: str, delimiter: str) -> list[str]:
    reader = csv.reader(_stream(text), delimiter=delimiter)
    with _csv_errors(path, what, reader):
        for fields in reader:
            if any(field.strip() for field in fields):
                return [field.strip() for field in fields]
    return []


def _drop_separator_hint(text: str) -> tuple[str, str | None]:
    # Excel writes and honours a first line "sep=;" naming the delimiter.
    first, newline, rest = text.partition("\n")
    hint = first.strip()
    if len(hint) == 5 and hint.lower().startswith("sep=") and hint[4] in _DELIMITERS:
        # Keep the line count: a blank line stands in for the hint.
        return newline + rest, hint[4]
    return text, None


def read_table(path: str, aliases: dict[str, tuple[str, ...]], *, what: str) -> Table:
    """Read the table at ``path`` and find the columns named in ``aliases``.

    ``aliases`` maps each wanted column (its name in messages) to the
    normalised header names that stand for it. Unless a ``sep=`` line says
    otherwise, the delimiter is the one whose header line names the most
    wanted columns; ties go to the one that splits the header the most.
    """
    try:
        data = read_config(path)
    except OSError as exc:
        raise ManifestError(
            f"cannot read the {what} {path}: {exc.strerror or exc}"
        ) from exc

    text, hinted = _drop_separator_hint(_decode(path, data))
    candidates = []
    for delimiter in (hinted,) if hinted else _DELIMITERS:
        header = _first_row(path, what, text, delimiter)
        columns = _find_columns(header, aliases)
        candidates.append(((len(columns), len(header)), delimiter, header, columns))
    _, delimiter, header, columns = max(candidates, key=lambda found: found[0])
    return Table(
        path=path,
        what=what,
        header=header,
        columns=columns,
        text=text,
        delimiter=delimiter,
    )


def _find_columns(
    header: list[str], aliases: dict[str, tuple[str, ...]]
) -> dict[str, int]:
    folded = [normalise_header(name) for name in header]
    columns: dict[str, int] = {}
    for wanted, names in aliases.items():
        for index, name in enumerate(folded):
            if name in names:
                columns[wanted] = index
                break
    return columns
