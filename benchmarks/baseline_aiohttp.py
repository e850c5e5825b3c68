"""Baseline (a): the plain aiohttp loop a user would write, the stack's ceiling.

Log on, fetch each client's licence token once, then let N tasks post the
receipts of ``ROOT/<uniqueClientId>/*.json`` as multipart forms. No journal,
no retries, no rate limit: only what the wire needs. Prints one JSON line
with the count per HTTP status.

    RETAILFORCE_API_KEY=... RETAILFORCE_API_SECRET=... \
    python baseline_aiohttp.py --url URL --clients clients.csv ROOT
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp


def receipt_files(root: Path, limit: int | None) -> list[tuple[str, Path]]:
    """(uniqueClientId, file) for every receipt, in file-name order."""
    files = sorted(root.glob("*/*.json"), key=lambda path: path.name)
    return [(path.parent.name, path) for path in files[:limit]]


def read_licences(clients_file: Path) -> dict[str, str]:
    with clients_file.open(newline="", encoding="utf-8") as handle:
        return {
            row["uniqueClientId"]: row["accessLicenseId"]
            for row in csv.DictReader(handle)
        }


async def fetch_tokens(
    session: aiohttp.ClientSession, url: str, licences: dict[str, str]
) -> dict[str, str]:
    form = {
        "key": os.environ["RETAILFORCE_API_KEY"],
        "secret": os.environ["RETAILFORCE_API_SECRET"],
    }
    async with session.post(f"{url}/api/v1.0/authenticate/logon", data=form) as r:
        r.raise_for_status()
        bearer = await r.json()

    tokens = {}
    for client_id, licence_id in licences.items():
        async with session.get(
            f"{url}/api/v1.0/licensing/token",
            params={"uniqueClientId": client_id, "accessLicenseId": licence_id},
            headers={"Authorization": f"Bearer {bearer}"},
        ) as r:
            r.raise_for_status()
            tokens[client_id] = await r.json()
    return tokens


async def upload_all(
    url: str, files: list[tuple[str, Path]], licences: dict[str, str], tasks: int
) -> Counter[int]:
    statuses: Counter[int] = Counter()
    connector = aiohttp.TCPConnector(limit=tasks)
    async with aiohttp.ClientSession(connector=connector) as session:
        tokens = await fetch_tokens(session, url, licences)
        work = iter(files)

        async def worker(work: Iterator[tuple[str, Path]]) -> None:
            for client_id, path in work:
                form = aiohttp.FormData()
                form.add_field("uniqueClientId", client_id)
                form.add_field("licenseToken", tokens[client_id])
                form.add_field(
                    "file",
                    path.read_bytes(),
                    filename=path.name,
                    content_type="application/json",
                )
                async with session.post(f"{url}/api/digitalReceipt", data=form) as r:
                    await r.read()
                    statuses[r.status] += 1

        await asyncio.gather(*(worker(work) for _ in range(tasks)))
    return statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()

    files = receipt_files(args.root, args.limit)
    licences = read_licences(args.clients)
    statuses = asyncio.run(upload_all(args.url, files, licences, args.concurrency))
    print(json.dumps({"statuses": {str(k): v for k, v in sorted(statuses.items())}}))
    return 0 if set(statuses) <= {200} else 1


if __name__ == "__main__":
    sys.exit(main())
