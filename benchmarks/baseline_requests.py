"""Baseline (b): the sequential ``requests`` loop a user would write first.

Log on, fetch each client's licence token once, then post the receipts of
``ROOT/<uniqueClientId>/*.json`` one after the other over one session.
Prints one JSON line with the count per HTTP status.

    RETAILFORCE_API_KEY=... RETAILFORCE_API_SECRET=... \
    python baseline_requests.py --url URL --clients clients.csv ROOT
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import Counter
from pathlib import Path

import requests

TIMEOUT = 60


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


def fetch_tokens(
    session: requests.Session, url: str, licences: dict[str, str]
) -> dict[str, str]:
    form = {
        "key": os.environ["RETAILFORCE_API_KEY"],
        "secret": os.environ["RETAILFORCE_API_SECRET"],
    }
    r = session.post(f"{url}/api/v1.0/authenticate/logon", data=form, timeout=TIMEOUT)
    r.raise_for_status()
    bearer = r.json()

    tokens = {}
    for client_id, licence_id in licences.items():
        r = session.get(
            f"{url}/api/v1.0/licensing/token",
            params={"uniqueClientId": client_id, "accessLicenseId": licence_id},
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=TIMEOUT,
        )
        r.raise_for_status()
        tokens[client_id] = r.json()
    return tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=Path, required=True)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()

    files = receipt_files(args.root, args.limit)
    statuses: Counter[int] = Counter()
    with requests.Session() as session:
        tokens = fetch_tokens(session, args.url, read_licences(args.clients))
        for client_id, path in files:
            r = session.post(
                f"{args.url}/api/digitalReceipt",
                data={"uniqueClientId": client_id, "licenseToken": tokens[client_id]},
                files={"file": (path.name, path.read_bytes(), "application/json")},
                timeout=TIMEOUT,
            )
            statuses[r.status_code] += 1

    print(json.dumps({"statuses": {str(k): v for k, v in sorted(statuses.items())}}))
    return 0 if set(statuses) <= {200} else 1


if __name__ == "__main__":
    sys.exit(main())
