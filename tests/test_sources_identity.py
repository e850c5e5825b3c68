"""Which client and licence each receipt gets, in every client-id mode."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from archives import (
    CLIENT_A,
    CLIENT_B,
    CLIENT_C,
    flip_byte,
    walk,
    write_zip,
    zip_data_offset,
)

from bulk_uploader.sources import Receipt, ReceiptSource, SourceOptions

NIL = "00000000-0000-0000-0000-000000000000"


def _receipt(root: Path, name: str, content: object) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    path.write_bytes(data)
    return path


def test_layout_takes_the_nearest_guid(tmp_path: Path) -> None:
    """Deeper folders win over shallower ones, members over their archive."""
    root = tmp_path / "in"
    _receipt(root, f"{CLIENT_A}/x/{CLIENT_B}/r.json", {})
    (root / CLIENT_A).mkdir(exist_ok=True)
    write_zip(root / CLIENT_A / f"{CLIENT_B}.zip", [(f"{CLIENT_C}/m.json", b"{}")])

    walked = walk(root, client_id_from="layout")

    assert [(r.origin, r.client_id) for r in walked.receipts] == [
        (f"{root}/{CLIENT_A}/{CLIENT_B}.zip:{CLIENT_C}/m.json", CLIENT_C),
        (f"{root}/{CLIENT_A}/x/{CLIENT_B}/r.json", CLIENT_B),
    ]


def test_layout_without_a_guid_is_unusable(tmp_path: Path) -> None:
    """No GUID folder on the path gives an Unusable that says so."""
    root = tmp_path / "in"
    _receipt(root, "pos-1/r.json", {"uniqueClientId": CLIENT_A})

    walked = walk(root, client_id_from="layout")

    (unusable,) = walked.unusable
    assert unusable.reason == "no client id: no folder on its path is named by a GUID"
    assert unusable.name == "r.json"


@pytest.mark.parametrize(
    ("content", "client", "reason"),
    [
        ({"uniqueClientId": f"{{{CLIENT_A.upper()}}}", "total": 1}, CLIENT_A, None),
        (
            b"\xef\xbb\xbf" + json.dumps({"uniqueClientId": CLIENT_B}).encode(),
            CLIENT_B,
            None,
        ),
        ({"header": {"uniqueClientId": CLIENT_A}}, None, "no top-level uniqueClientId"),
        ([{"uniqueClientId": CLIENT_A}], None, "no top-level uniqueClientId"),
        (
            {"uniqueClientId": "POS-7"},
            None,
            "uniqueClientId 'POS-7' in the receipt is not a GUID",
        ),
        ({"uniqueClientId": 7}, None, "uniqueClientId 7 in the receipt is not a GUID"),
        (b'{"uniqueClientId": ', None, "not valid JSON"),
        (b"%PDF-1.7 uniqueClientId", None, "not valid JSON"),
        (b"<xml/>", None, "no top-level uniqueClientId"),
        (
            {"uniqueClientId": NIL},
            None,
            f"uniqueClientId '{NIL}' in the receipt is the nil GUID (all zeros), "
            "which names no client",
        ),
        (
            f'{{"uniqueClientId": "{CLIENT_A}", "uniqueClientId": "{CLIENT_B}"}}',
            None,
            "uniqueClientId appears twice with different values",
        ),
        (
            f'{{"uniqueClientId": "{CLIENT_A}", "unique\\u0043lientId": "{CLIENT_B}"}}',
            None,
            "uniqueClientId appears twice with different values",
        ),
        (
            f'{{"uniqueClientId": "{CLIENT_A}", "uniqueClientId": "{CLIENT_A}"}}',
            CLIENT_A,
            None,
        ),
        (
            {"uniqueClientId": CLIENT_A, "x": {"uniqueClientId": CLIENT_B}},
            CLIENT_A,
            None,
        ),
        (
            f'{{"n": {"9" * 5000}, "uniqueClientId": "{CLIENT_A}", "f": 0.{"5" * 99}}}',
            CLIENT_A,
            None,
        ),
        (
            {"uniqueClientId": 10**80},
            None,
            f"uniqueClientId 1{'0' * 56}... in the receipt is not a GUID",
        ),
    ],
    ids=[
        "braces",
        "bom",
        "nested",
        "array",
        "not-guid",
        "number",
        "cut",
        "pdf",
        "xml",
        "nil",
        "twice-different",
        "twice-escaped",
        "twice-same",
        "again-nested",
        "5000-digits",
        "long-number",
    ],
)
def test_content_reads_the_top_level_field(
    tmp_path: Path, content: object, client: str | None, reason: str | None
) -> None:
    """Only a top-level uniqueClientId holding a GUID names the client."""
    root = tmp_path / "in"
    _receipt(root, "r.json", content)

    walked = walk(root, client_id_from="content")

    if client is not None:
        assert [r.client_id for r in walked.receipts] == [client]
    else:
        (unusable,) = walked.unusable
        assert reason is not None
        assert reason in unusable.reason
        assert unusable.reason.startswith("no client id: ")


def test_content_of_zip_members_is_read_once_and_kept(tmp_path: Path) -> None:
    """A member read for its client id can still be read after the walk moved on."""
    content = json.dumps({"uniqueClientId": CLIENT_A}).encode()
    archive = write_zip(tmp_path / "a.zip", [("r.json", content)])

    (receipt,) = list(
        ReceiptSource(
            [archive], SourceOptions(client_id_from="content", license_id="L")
        )
    )

    assert isinstance(receipt, Receipt)
    assert receipt.client_id == CLIENT_A
    assert receipt.read() == content


def test_content_of_a_corrupt_member_is_unusable(tmp_path: Path) -> None:
    """When the bytes are needed for the client id, a bad CRC fails the member."""
    archive = write_zip(
        tmp_path / "a.zip",
        [("r.json", json.dumps({"uniqueClientId": CLIENT_A}).encode())],
        compression=zipfile.ZIP_STORED,
    )
    flip_byte(archive, zip_data_offset(archive, "r.json") + 2)

    walked = walk(archive, client_id_from="content")

    (unusable,) = walked.unusable
    assert unusable.reason == "bad CRC-32: the member's bytes are corrupt"
    assert unusable.name == "r.json"


def test_auto_tries_layout_then_manifest_then_content(tmp_path: Path) -> None:
    """Each receipt gets its client from the first way that answers."""
    root = tmp_path / "in"
    _receipt(root, f"{CLIENT_A}/by-layout.json", {"uniqueClientId": CLIENT_C})
    _receipt(root, "flat/by-manifest.json", {"uniqueClientId": CLIENT_C})
    _receipt(root, "flat/by-content.json", {"uniqueClientId": CLIENT_C})
    _receipt(root, "flat/by-nothing.xml", b"<receipt/>")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        f"file,uniqueClientId\nby-layout.json,{CLIENT_B}\nby-manifest.json,{CLIENT_B}\n"
    )

    walked = walk(root, manifest=str(manifest))

    assert {r.name: r.client_id for r in walked.receipts} == {
        "by-layout.json": CLIENT_A,
        "by-manifest.json": CLIENT_B,
        "by-content.json": CLIENT_C,
    }
    (unusable,) = walked.unusable
    assert unusable.reason == (
        "no client id: no folder on its path is named by a GUID; "
        f"not listed in the manifest {manifest}; "
        "no top-level uniqueClientId field in the receipt"
    )


def test_licence_comes_from_clients_file_then_manifest_then_default(
    tmp_path: Path,
) -> None:
    """The clients file wins, then the manifest column, then --license-id."""
    root = tmp_path / "in"
    for client in (CLIENT_A, CLIENT_B, CLIENT_C):
        _receipt(root, f"{client}/r.json", {})
    clients = tmp_path / "clients.csv"
    clients.write_text(f"uniqueClientId,accessLicenseId\n{CLIENT_A},FROM-CLIENTS\n")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "file;accessLicenseId\n"
        f"{CLIENT_A}/r.json;FROM-MANIFEST\n"
        f"{CLIENT_B}/r.json;FROM-MANIFEST\n"
    )

    walked = walk(
        root,
        clients_file=str(clients),
        manifest=str(manifest),
        license_id="DEFAULT",
        client_id_from="layout",
    )

    assert {r.client_id: r.license_id for r in walked.receipts} == {
        CLIENT_A: "FROM-CLIENTS",
        CLIENT_B: "FROM-MANIFEST",
        CLIENT_C: "DEFAULT",
    }


def test_no_licence_names_the_three_ways_to_give_one(tmp_path: Path) -> None:
    """Without any licence source, the reason tells the user what to add."""
    root = tmp_path / "in"
    _receipt(root, f"{CLIENT_A}/r.json", {})

    walked = walk(root, license_id=None)

    (unusable,) = walked.unusable
    assert unusable.client_id == CLIENT_A
    assert unusable.reason == (
        f"no accessLicenseId for client {CLIENT_A}: give one with --clients FILE, "
        "an accessLicenseId column in the manifest, or --license-id"
    )


def test_a_nil_guid_folder_is_no_client(tmp_path: Path) -> None:
    """A folder named by the nil GUID does not name a client, and the reason
    says that is why."""
    root = tmp_path / "in"
    _receipt(root, f"{NIL}/r.json", {})

    walked = walk(root, client_id_from="layout")

    (unusable,) = walked.unusable
    assert unusable.reason == (
        "no client id: the only GUID on its path is the nil GUID (all zeros), "
        "which names no client"
    )


def test_a_nil_guid_in_the_manifest_is_no_client(tmp_path: Path) -> None:
    """A manifest row giving the nil GUID leaves that file without a client."""
    root = tmp_path / "in"
    _receipt(root, "r.json", {})
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"file,uniqueClientId\nr.json,{{{NIL.upper()}}}\n")

    walked = walk(root, client_id_from="manifest", manifest=str(manifest))

    (unusable,) = walked.unusable
    assert unusable.reason == (
        f"no client id: manifest line 2: uniqueClientId '{{{NIL.upper()}}}' is "
        "the nil GUID (all zeros), which names no client"
    )
