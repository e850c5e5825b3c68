"""The clients file: the accessLicenseId of each POS client."""

from __future__ import annotations

import tomllib
from typing import Any

from ..errors import ManifestError
from ._files import read_config
from ._guid import not_a_client, parse_guid
from ._tables import describe_header, normalise_header, read_table
from ._text import quote

__all__ = ["read_clients"]

_CLIENT, _LICENCE = "uniqueClientId", "accessLicenseId"
_ALIASES = {
    _CLIENT: ("uniqueclientid",),
    _LICENCE: ("accesslicenseid", "accesslicenceid"),
}


def read_clients(path: str) -> dict[str, str]:
    """Map each client's GUID to its accessLicenseId, from CSV or TOML.

    A ``.toml`` file holds either a table of GUID to licence::

        [clients]
        "0f8fad5b-d9cb-469f-a165-70867728950e" = "LIC-1"

    or an array of tables with the same column names as the CSV form::

        [[clients]]
        uniqueClientId = "0f8fad5b-d9cb-469f-a165-70867728950e"
        accessLicenseId = "LIC-1"

    Any other file is a CSV table with the columns uniqueClientId and
    accessLicenseId. Every mistake raises ``ManifestError``: the file is
    configuration, and a run with half its licences would mislead.
    """
    toml = path.lower().endswith(".toml")
    pairs = _toml_pairs(path) if toml else _csv_pairs(path)

    licences: dict[str, str] = {}
    for where, client_text, licence in pairs:
        client = parse_guid(client_text)
        if client is None:
            raise ManifestError(
                f"clients file {path}, {where}: {quote(client_text)} "
                f"{not_a_client(client_text)}"
            )
        if not licence:
            raise ManifestError(
                f"clients file {path}, {where}: no accessLicenseId for {client}"
            )
        if licences.setdefault(client, licence) != licence:
            raise ManifestError(
                f"clients file {path}, {where}: client {client} is given two "
                "different licences"
            )
    return licences


def _csv_pairs(path: str) -> list[tuple[str, str, str]]:
    table = read_table(path, _ALIASES, what="clients file")
    if len(table.columns) < len(_ALIASES):
        raise ManifestError(
            f"clients file {path} has no usable header line: it needs the "
            f"columns {_CLIENT!r} and {_LICENCE!r}; its first line has "
            f"{describe_header(table.header)}"
        )
    client_at, licence_at = table.columns[_CLIENT], table.columns[_LICENCE]
    pairs = []
    for line, fields in table.rows():
        client = fields[client_at].strip() if client_at < len(fields) else ""
        licence = fields[licence_at].strip() if licence_at < len(fields) else ""
        pairs.append((f"line {line}", client, licence))
    return pairs


def _toml_pairs(path: str) -> list[tuple[str, str, str]]:
    try:
        document = tomllib.loads(read_config(path).decode("utf-8-sig"))
    except OSError as exc:
        raise ManifestError(
            f"cannot read the clients file {path}: {exc.strerror or exc}"
        ) from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"clients file {path} is not valid TOML: {exc}") from exc

    clients = document.get("clients")
    if isinstance(clients, dict):
        return [
            (f"[clients] {quote(key)}", key, _licence_text(path, value))
            for key, value in clients.items()
        ]
    if isinstance(clients, list):
        return [_toml_row(path, number, row) for number, row in enumerate(clients, 1)]
    raise ManifestError(
        f"clients file {path} needs a [clients] table of "
        '"<uniqueClientId>" = "<accessLicenseId>", or [[clients]] entries with '
        "uniqueClientId and accessLicenseId"
    )


def _toml_row(path: str, number: int, row: Any) -> tuple[str, str, str]:
    where = f"[[clients]] entry {number}"
    if not isinstance(row, dict):
        raise ManifestError(f"clients file {path}, {where} is not a table")
    fields = {normalise_header(key): value for key, value in row.items()}
    client = fields.get("uniqueclientid")
    licence = fields.get("accesslicenseid", fields.get("accesslicenceid"))
    if not isinstance(client, str):
        raise ManifestError(f"clients file {path}, {where} has no uniqueClientId")
    return where, client, _licence_text(path, licence)


def _licence_text(path: str, value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ManifestError(
            f"clients file {path}: accessLicenseId {quote(value)} must be a string"
        )
    return value.strip()
