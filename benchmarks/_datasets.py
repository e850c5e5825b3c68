"""Receipts to upload: small JSON files in folders per client, or in zip files.

Every set uses the same POS clients (so a journal that already holds their
licence tokens serves every set) and names its receipts with its own
prefix (so no set is mistaken for another by the journal). Sets are kept
under ``benchmarks/out/data`` and reused by later invocations.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Clients", "ReceiptSet", "folder_set", "make_clients", "zip_set"]

_SEED = 20240601
_ZIP_MEMBERS = 10_000
_COMPLETE = ".complete.json"
# Bump when the layout or content changes, so old cached sets are rebuilt.
_FORMAT = 1
_ITEMS = (("Espresso", 2.40), ("Cappuccino", 3.20), ("Croissant", 1.90))


@dataclass(frozen=True)
class Clients:
    """The POS clients of every set and the clients file that names them."""

    ids: tuple[str, ...]
    licences: tuple[str, ...]
    file: Path


@dataclass(frozen=True)
class ReceiptSet:
    """Receipts on disk: what to pass as SOURCE and how many there are."""

    sources: tuple[Path, ...]
    count: int
    total_bytes: int


def make_clients(root: Path, count: int) -> Clients:
    """``count`` clients with stable GUIDs, and their clients.csv."""
    ids = tuple(str(uuid.UUID(int=_SEED * 1000 + n, version=4)) for n in range(count))
    licences = tuple(
        str(uuid.UUID(int=_SEED * 7000 + n, version=4)) for n in range(count)
    )
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"clients-{count}.csv"
    draft = path.with_name(f"{path.name}.{os.getpid()}")
    draft.write_text(
        "uniqueClientId,accessLicenseId\n"
        + "".join(f"{c},{lic}\n" for c, lic in zip(ids, licences, strict=True)),
        encoding="utf-8",
    )
    draft.replace(path)
    return Clients(ids, licences, path)


def receipt_bytes(client_id: str, number: int) -> bytes:
    """A small receipt (about 400 bytes) shaped like a RetailForce document."""
    caption, price = _ITEMS[number % len(_ITEMS)]
    quantity = 1 + number % 3
    gross = round(price * quantity, 2)
    document = {
        "uniqueClientId": client_id,
        "documentNumber": f"R-{number:07d}",
        "documentType": 0,
        "bookDate": f"2024-{1 + number % 12:02d}-{1 + number % 28:02d}T12:00:00Z",
        "positions": [
            {
                "positionNumber": 1,
                "caption": caption,
                "quantity": quantity,
                "grossValue": gross,
                "vatPercent": 19.0,
            }
        ],
        "payments": [{"paymentType": 0, "caption": "Bar", "amount": gross}],
        "currency": "EUR",
    }
    return json.dumps(document).encode()


def folder_set(root: Path, name: str, count: int, clients: Clients) -> ReceiptSet:
    """``root/name-count/<uniqueClientId>/<name>-<n>.json``, clients in turn."""
    folder = root / f"{name}-{count}"

    def write(folder: Path) -> int:
        for client_id in clients.ids:
            (folder / client_id).mkdir(parents=True, exist_ok=True)
        total = 0
        for number in range(count):
            client_id = clients.ids[number % len(clients.ids)]
            data = receipt_bytes(client_id, number)
            (folder / client_id / f"{name}-{number:07d}.json").write_bytes(data)
            total += len(data)
        return total

    total = _cached(folder, count, len(clients.ids), write)
    return ReceiptSet((folder,), count, total)


def zip_set(root: Path, name: str, count: int, clients: Clients) -> ReceiptSet:
    """Zip files of up to 10,000 receipts each, ``<uniqueClientId>/...`` inside."""
    folder = root / name

    def write(folder: Path) -> int:
        folder.mkdir(parents=True, exist_ok=True)
        total = 0
        for first in range(0, count, _ZIP_MEMBERS):
            part = folder / f"{name}-{first // _ZIP_MEMBERS:04d}.zip"
            with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for number in range(first, min(count, first + _ZIP_MEMBERS)):
                    client_id = clients.ids[number % len(clients.ids)]
                    data = receipt_bytes(client_id, number)
                    zf.writestr(f"{client_id}/{name}-{number:07d}.json", data)
                    total += len(data)
        return total

    total = _cached(folder, count, len(clients.ids), write)
    return ReceiptSet(tuple(sorted(folder.glob("*.zip"))), count, total)


def _cached(
    folder: Path, count: int, clients: int, write: Callable[[Path], int]
) -> int:
    """Reuse ``folder`` if it was completed with the same parameters.

    A new set is written under a name of this process and renamed when
    complete, so an invocation running beside this one never reads half a set.
    """
    # Beside the folder, not in it: the uploader would take it for a receipt.
    marker = folder.with_name(folder.name + _COMPLETE)
    wanted = {"format": _FORMAT, "count": count, "clients": clients}
    found = _completed(marker, wanted)
    if found is not None:
        return found

    draft = folder.with_name(f"{folder.name}.draft-{os.getpid()}")
    shutil.rmtree(draft, ignore_errors=True)
    total = write(draft)
    found = _completed(marker, wanted)
    if found is not None:
        # Another invocation finished the same set first: use theirs.
        shutil.rmtree(draft)
        return found
    shutil.rmtree(folder, ignore_errors=True)
    draft.rename(folder)
    note = marker.with_name(f"{marker.name}.{os.getpid()}")
    note.write_text(json.dumps({**wanted, "bytes": total}))
    note.replace(marker)
    return total


def _completed(marker: Path, wanted: dict[str, int]) -> int | None:
    try:
        found = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    if {key: found.get(key) for key in wanted} != wanted:
        return None
    return int(found["bytes"])
