"""Realistic sample receipts for the demo, the tests and the benchmarks.

A sample set looks like what operators hand over: a folder exported per POS
system, daily zip files, and a tar.gz from a migration, each holding
RetailForce-shaped JSON receipts and a few PDFs, with a clients file that
names each client's licence.
"""

from __future__ import annotations

import io
import json
import random
import tarfile
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = ["SampleSet", "receipt_json", "tiny_pdf", "write_sample_set"]

_ITEMS = (
    ("Espresso", 2.40),
    ("Cappuccino", 3.20),
    ("Croissant", 1.90),
    ("Brezel", 1.10),
    ("Mineralwasser 0,5 l", 1.80),
    ("Apfelstrudel", 3.90),
)


@dataclass(frozen=True)
class SampleSet:
    """Where the samples were written and what a correct upload must deliver."""

    sources: tuple[Path, ...]
    clients_file: Path
    clients: tuple[str, ...]
    receipts: int
    per_client: dict[str, int]


def receipt_json(client_id: str, number: int, rng: random.Random) -> bytes:
    """A receipt shaped like a RetailForce fiscal document."""
    booked = datetime(2024, 1, 1, 8, tzinfo=UTC) + timedelta(minutes=7 * number)
    positions = []
    total = 0.0
    for index in range(rng.randint(1, 4)):
        caption, price = rng.choice(_ITEMS)
        quantity = rng.randint(1, 3)
        gross = round(price * quantity, 2)
        total += gross
        positions.append(
            {
                "positionNumber": index + 1,
                "caption": caption,
                "quantity": quantity,
                "grossValue": gross,
                "netValue": round(gross / 1.19, 2),
                "vatPercent": 19.0,
                "vatIdentification": 1,
            }
        )
    document = {
        "uniqueClientId": client_id,
        "documentGuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "documentId": f"{number:06d}",
        "documentNumber": f"R-{number:06d}",
        "documentType": 0,
        "bookDate": booked.isoformat(),
        "createDate": booked.isoformat(),
        "cancellation": False,
        "user": {"id": "1", "caption": "Kasse 1"},
        "positions": positions,
        "payments": [
            {
                "paymentType": 0,
                "caption": "Bar",
                "amount": round(total, 2),
                "currencyIsoCode": "EUR",
            }
        ],
        "currency": "EUR",
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def tiny_pdf(text: str, *, lines: int = 40) -> bytes:
    """A small, valid one-page PDF that shows ``text`` and a receipt's lines.

    With the default 40 lines it is about 2.5 KB, larger than any sample JSON
    receipt, which tests use to make only the PDFs hit a size limit.
    """
    rows = [text] + [
        f"{row + 1:>3}  {_ITEMS[row % len(_ITEMS)][0]:<24} EUR "
        f"{_ITEMS[row % len(_ITEMS)][1]:>6.2f}"
        for row in range(lines)
    ]
    shown = " ".join(f"({row}) Tj T*" for row in rows)
    stream = f"BT /F1 10 Tf 12 TL 40 800 Td {shown} ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, xref)
    )
    return out.getvalue()


def write_sample_set(
    root: Path, *, receipts: int = 600, clients: int = 8, seed: int = 7
) -> SampleSet:
    """Write a folder, zip files and a tar.gz of receipts under ``root``."""
    rng = random.Random(seed)
    client_ids = tuple(
        str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(clients)
    )
    root.mkdir(parents=True, exist_ok=True)
    folder = root / "export"
    archives = root / "archives"
    archives.mkdir(exist_ok=True)

    members: dict[str, list[tuple[str, bytes]]] = {"folder": [], "zip": [], "tar": []}
    per_client = dict.fromkeys(client_ids, 0)
    for number in range(receipts):
        client_id = client_ids[number % clients]
        per_client[client_id] += 1
        if number % 10 == 9:
            name = f"Beleg-{number:06d}-Kundenkopie.pdf"
            data = tiny_pdf(f"Beleg {number} - {client_id}")
        else:
            name = f"receipt-{number:06d}.json"
            data = receipt_json(client_id, number, rng)
        # The same client's receipts land in several places, as they do after
        # years of exports: part in the folder, part in the zips, part in tar.
        where = ("folder", "zip", "zip", "tar")[number % 4]
        members[where].append((f"{client_id}/{name}", data))

    for path, data in members["folder"]:
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    half = len(members["zip"]) // 2
    for day, chunk in enumerate((members["zip"][:half], members["zip"][half:]), 1):
        with zipfile.ZipFile(archives / f"day-{day:02d}.zip", "w") as zf:
            for path, data in chunk:
                zf.writestr(path, data, compress_type=zipfile.ZIP_DEFLATED)
    with tarfile.open(archives / "migration.tar.gz", "w:gz") as tf:
        for path, data in members["tar"]:
            info = tarfile.TarInfo(f"pos/{path}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

    clients_file = root / "clients.csv"
    clients_file.write_text(
        "uniqueClientId,accessLicenseId\n"
        + "".join(
            f"{cid},{uuid.UUID(int=rng.getrandbits(128))}\n" for cid in client_ids
        ),
        encoding="utf-8",
    )
    return SampleSet(
        sources=(folder, archives),
        clients_file=clients_file,
        clients=client_ids,
        receipts=receipts,
        per_client=per_client,
    )
