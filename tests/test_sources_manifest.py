"""Manifests and clients files as people make them, read through ReceiptSource."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from archives import CLIENT_A, CLIENT_B, CLIENT_C, write_zip
from hypothesis import given, settings
from hypothesis import strategies as st

from bulk_uploader.errors import ManifestError
from bulk_uploader.sources import (
    Receipt,
    ReceiptSource,
    Skipped,
    SourceItem,
    SourceOptions,
    Unusable,
)
from bulk_uploader.sources._manifest import Manifest, manifest_key
from bulk_uploader.sources._text import decode_lenient


def _folder(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "receipts"
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'{"total": 1}')
    return folder


def _walk(folder: Path, **options: Any) -> list[SourceItem]:
    return list(ReceiptSource([folder], SourceOptions(**options)))


def _clients(items: list[SourceItem]) -> dict[str, tuple[str, str]]:
    return {
        item.name: (item.client_id, item.license_id)
        for item in items
        if isinstance(item, Receipt)
    }


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    """Comma, semicolon and tab manifests all map files to their clients."""
    folder = _folder(tmp_path, "a.json", "b.json")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        delimiter.join(["file", "uniqueClientId", "accessLicenseId"])
        + "\n"
        + delimiter.join(["a.json", CLIENT_A, "LIC-A"])
        + "\n"
        + delimiter.join(["b.json", CLIENT_B, "LIC-B"])
        + "\n"
    )

    items = _walk(folder, manifest=str(manifest), client_id_from="manifest")

    assert _clients(items) == {
        "a.json": (CLIENT_A, "LIC-A"),
        "b.json": (CLIENT_B, "LIC-B"),
    }


def test_bom_crlf_quotes_and_blank_lines(tmp_path: Path) -> None:
    """A UTF-8 BOM, CRLF endings, quoted fields and blank lines are all fine."""
    folder = _folder(tmp_path, "Bon; Köln, 1.json", "plain.json")
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes(
        codecs.BOM_UTF8
        + (
            "\r\n"
            'File;"UniqueClientID"\r\n'
            "\r\n"
            f'"Bon; Köln, 1.json";"{{{CLIENT_A.upper()}}}"\r\n'
            " ; \r\n"
            f"plain.json;{CLIENT_B}\r\n"
            "\r\n"
        ).encode()
    )

    items = _walk(folder, manifest=str(manifest), license_id="LIC")

    assert _clients(items) == {
        "Bon; Köln, 1.json": (CLIENT_A, "LIC"),
        "plain.json": (CLIENT_B, "LIC"),
    }


def test_windows_1252_is_decoded_whole_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A Windows-1252 manifest keeps every character, and a WARNING says so."""
    name = "Beleg-Müller-€.json"
    folder = _folder(tmp_path, name)
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes(
        f"file;uniqueClientId\r\n{name};{CLIENT_A}\r\n".encode("cp1252")
    )

    with caplog.at_level(logging.WARNING, logger="bulk_uploader.sources"):
        items = _walk(folder, manifest=str(manifest), license_id="LIC")

    assert _clients(items) == {name: (CLIENT_A, "LIC")}
    assert any(
        record.levelno == logging.WARNING and "Windows-1252" in record.getMessage()
        for record in caplog.records
    )


def test_excel_unicode_text_and_separator_hint(tmp_path: Path) -> None:
    """UTF-16 tab-separated exports and a leading sep= line are understood."""
    folder = _folder(tmp_path, "a.json", "b.json")
    unicode_text = tmp_path / "unicode.txt"
    unicode_text.write_bytes(
        f"FileName\tUniqueClientId\r\na.json\t{CLIENT_A}\r\n".encode("utf-16")
    )
    hinted = tmp_path / "hinted.csv"
    hinted.write_text(f"sep=;\npath;uniqueClientId\nb.json;{CLIENT_B}\n")

    first = _walk(folder, manifest=str(unicode_text), license_id="L")
    second = _walk(folder, manifest=str(hinted), license_id="L")

    assert _clients(first)["a.json"] == (CLIENT_A, "L")
    assert _clients(second)["b.json"] == (CLIENT_B, "L")


@pytest.mark.parametrize(
    ("header", "found"),
    [
        ("name,client\n", "'name', 'client'"),
        ("file\n", "'file'"),
        ("", "nothing"),
    ],
)
def test_unusable_header_names_needed_and_found_columns(
    tmp_path: Path, header: str, found: str
) -> None:
    """A manifest without the needed columns stops the run and says why."""
    folder = _folder(tmp_path, "a.json")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(header + f"a.json,{CLIENT_A}\n" if header else "")

    with pytest.raises(ManifestError) as raised:
        ReceiptSource([folder], SourceOptions(manifest=str(manifest)))

    message = str(raised.value)
    assert "'file'" in message
    assert "'uniqueClientId'" in message
    assert found in message


def test_manifest_mode_needs_the_client_column(tmp_path: Path) -> None:
    """A licence-only manifest is refused when client ids must come from it."""
    folder = _folder(tmp_path, "a.json")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,accessLicenseId\na.json,L\n")

    with pytest.raises(ManifestError, match="uniqueClientId"):
        ReceiptSource(
            [folder], SourceOptions(manifest=str(manifest), client_id_from="manifest")
        )


def test_unreadable_manifest_is_a_manifest_error(tmp_path: Path) -> None:
    """A manifest that cannot be read stops the run with its path in the message."""
    folder = _folder(tmp_path, "a.json")
    missing = tmp_path / "nope.csv"

    with pytest.raises(ManifestError, match=r"nope\.csv"):
        ReceiptSource([folder], SourceOptions(manifest=str(missing)))


def test_paths_bare_names_and_missing_rows(tmp_path: Path) -> None:
    """Rows match by path, origin or bare name; rows never found are reported."""
    folder = _folder(
        tmp_path, "pos-1/r.json", "pos-2/r.json", "x/only.json", "x/also.json"
    )
    write_zip(folder / "day.zip", [("inner/z.json", b"{}")])
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "file,uniqueClientId\n"
        f"pos-1/r.json,{CLIENT_A}\n"
        f"./pos-2\\r.json,{CLIENT_B}\n"
        f"only.json,{CLIENT_C}\n"
        f"day.zip:inner/z.json,{CLIENT_A}\n"
        f"{folder}/x/also.json,{CLIENT_B}\n"
        f"gone/lost.json,{CLIENT_A}\n"
        f"lost-too.json,{CLIENT_B}\n"
    )
    source = ReceiptSource(
        [folder],
        SourceOptions(
            manifest=str(manifest), client_id_from="manifest", license_id="L"
        ),
    )

    receipts = [item for item in source if isinstance(item, Receipt)]

    assert sorted((r.origin, r.client_id) for r in receipts) == sorted(
        [
            (str(folder / "pos-1/r.json"), CLIENT_A),
            (str(folder / "pos-2/r.json"), CLIENT_B),
            (str(folder / "x/only.json"), CLIENT_C),
            (str(folder / "x/also.json"), CLIENT_B),
            (f"{folder / 'day.zip'}:inner/z.json", CLIENT_A),
        ]
    )
    assert source.missing_from_manifest() == ["gone/lost.json", "lost-too.json"]


def test_bad_rows_fail_only_their_file(tmp_path: Path) -> None:
    """A non-GUID client or a name given two clients fails just that file."""
    folder = _folder(tmp_path, "a.json", "b.json", "c.json", "d.json")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "file,uniqueClientId\n"
        "a.json,POS-0001\n"
        f"b.json,{CLIENT_A}\n"
        f"b.json,{CLIENT_B}\n"
        f"c.json,{CLIENT_C}\n"
        f"c.json,{CLIENT_C}\n"
        "d.json,\n"
    )

    items = _walk(
        folder, manifest=str(manifest), client_id_from="manifest", license_id="L"
    )

    reasons = {item.name: item.reason for item in items if isinstance(item, Unusable)}
    assert "line 2" in reasons["a.json"]
    assert "'POS-0001' is not a GUID" in reasons["a.json"]
    assert "lines 3 and 4" in reasons["b.json"]
    assert "line 7 gives no uniqueClientId" in reasons["d.json"]
    assert _clients(items) == {"c.json": (CLIENT_C, "L")}


def test_manifest_inside_the_folder_is_not_a_receipt(tmp_path: Path) -> None:
    """The manifest and clients file lying in a source folder are skipped."""
    folder = _folder(tmp_path, "a.json")
    manifest = folder / "manifest.csv"
    manifest.write_text(f"file,uniqueClientId\na.json,{CLIENT_A}\n")
    clients = folder / "clients.csv"
    clients.write_text(f"uniqueClientId,accessLicenseId\n{CLIENT_A},LIC-A\n")

    items = _walk(folder, manifest=str(manifest), clients_file=str(clients))

    assert _clients(items) == {"a.json": (CLIENT_A, "LIC-A")}
    skipped = sorted(item.origin for item in items if isinstance(item, Skipped))
    assert skipped == [str(clients), str(manifest)]


# -- clients files ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f'[clients]\n"{CLIENT_A}" = "LIC-A"\n"{{{CLIENT_B.upper()}}}" = "LIC-B"\n',
        (
            f'[[clients]]\nuniqueClientId = "{CLIENT_A}"\naccessLicenseId = "LIC-A"\n'
            f'[[clients]]\nuniqueClientId = "{CLIENT_B}"\naccessLicenseId = "LIC-B"\n'
        ),
    ],
    ids=["table", "array-of-tables"],
)
def test_clients_toml_shapes(tmp_path: Path, text: str) -> None:
    """Both TOML shapes give each client its licence."""
    folder = _folder(tmp_path, f"{CLIENT_A}/a.json", f"{CLIENT_B}/b.json")
    clients = tmp_path / "clients.toml"
    clients.write_text(text)

    items = _walk(folder, clients_file=str(clients))

    assert _clients(items) == {
        "a.json": (CLIENT_A, "LIC-A"),
        "b.json": (CLIENT_B, "LIC-B"),
    }


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.csv", "client;licence\nx;y\n", "'uniqueClientId' and 'accessLicenseId'"),
        (
            "c.csv",
            "uniqueClientId;accessLicenseId\nPOS-1;L\n",
            "'POS-1' is not a GUID",
        ),
        (
            "c.csv",
            f"uniqueClientId;accessLicenseId\n{CLIENT_A};\n",
            "no accessLicenseId",
        ),
        (
            "c.csv",
            f"uniqueClientId,accessLicenseId\n{CLIENT_A},L1\n{CLIENT_A},L2\n",
            "two different licences",
        ),
        (
            "c.csv",
            "uniqueClientId,accessLicenseId\n00000000-0000-0000-0000-000000000000,L\n",
            "line 2: '00000000-0000-0000-0000-000000000000' is the nil GUID (all "
            "zeros), which names no client",
        ),
        ("c.toml", "[clients\n", "not valid TOML"),
        ("c.toml", "title = 'x'\n", "[clients]"),
        ("c.toml", f'[clients]\n"{CLIENT_A}" = 5\n', "must be a string"),
        ("c.toml", "[[clients]]\naccessLicenseId = 'L'\n", "no uniqueClientId"),
    ],
)
def test_bad_clients_files_stop_the_run(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    """Every mistake in a clients file is a ManifestError that names it."""
    folder = _folder(tmp_path, "a.json")
    clients = tmp_path / name
    clients.write_text(text)

    with pytest.raises(ManifestError, match="clients file") as raised:
        ReceiptSource([folder], SourceOptions(clients_file=str(clients)))

    assert message in str(raised.value)


# -- properties -------------------------------------------------------------

_names = st.text(
    # Line breaks inside a file name are left out: csv.writer does not quote a
    # lone CR when lines end in LF, which no spreadsheet would write.
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n"),
    min_size=1,
    max_size=20,
).filter(lambda name: manifest_key(name) != "")
_rows = st.lists(
    st.tuples(_names, st.uuids(), st.one_of(st.none(), st.text("ABC-123", min_size=1))),
    max_size=12,
    unique_by=lambda row: manifest_key(row[0]),
)


@settings(max_examples=150, deadline=None)
@given(
    rows=_rows,
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    newline=st.sampled_from(["\n", "\r\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    header=st.sampled_from(
        [
            ("file", "uniqueClientId", "accessLicenseId"),
            ("PATH", "UNIQUECLIENTID", "AccessLicenseID"),
        ]
    ),
)
def test_written_manifests_read_back(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[str, object, str | None]],
    delimiter: str,
    encoding: str,
    newline: str,
    quoting: int,
    header: tuple[str, str, str],
) -> None:
    """Whatever csv writes, with any delimiter and encoding, reads back row by row."""
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=delimiter, lineterminator=newline, quoting=quoting
    )
    writer.writerow(header)
    for name, client, licence in rows:
        writer.writerow([name, str(client).upper(), licence or ""])
    path = tmp_path_factory.mktemp("manifest") / "m.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))

    manifest = Manifest(str(path), need_client=True)

    assert len(manifest) == len(rows)
    for name, client, licence in rows:
        row = manifest.find(manifest_key(name))
        assert row is not None
        assert (row.client_id, row.license_id) == (
            str(client),
            licence.strip() or None if licence else None,
        )
    assert manifest.missing() == []


@given(st.binary())
def test_lenient_decoding_keeps_every_byte(data: bytes) -> None:
    """Undecodable UTF-8 falls back to Windows-1252 with one character per byte."""
    text, codec = decode_lenient(data)
    if codec == "utf-8":
        assert text.encode("utf-8") == data
    else:
        assert len(text) == len(data)


# -- hostile files ----------------------------------------------------------


@pytest.mark.parametrize("option", ["manifest", "clients_file"])
def test_a_field_over_the_csv_limit_is_a_manifest_error(
    tmp_path: Path, option: str
) -> None:
    """csv refuses fields over 128 KiB: that stops the run with a ManifestError
    naming the file and line, not with a bare _csv.Error."""
    folder = _folder(tmp_path, "a.json")
    table = tmp_path / "table.csv"
    table.write_text(
        f"file,uniqueClientId,accessLicenseId\na.json,{CLIENT_A},L\n"
        f"{'x' * 140_000},{CLIENT_A},L\n"
    )
    what = "manifest" if option == "manifest" else "clients file"

    with pytest.raises(ManifestError) as raised:
        ReceiptSource([folder], SourceOptions(**{option: str(table)}))

    assert str(raised.value) == (
        f"{what} {table}, line 3: cannot be read as a CSV table (field larger "
        "than field limit (131072)); is this the right file?"
    )


def test_a_binary_manifest_is_quoted_short_and_printable(tmp_path: Path) -> None:
    """Garbage in the first line is quoted printable and cut to 60 characters."""
    folder = _folder(tmp_path, "a.json")
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes(bytes(b for b in range(256) if b not in b"\r\n") * 2)

    with pytest.raises(ManifestError) as raised:
        ReceiptSource([folder], SourceOptions(manifest=str(manifest)))

    _, _, quoted = str(raised.value).partition("its first line has ")
    assert len(quoted) == 60
    assert quoted.endswith("...")
    assert quoted.isprintable()


def test_a_manifest_without_rows_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A header-only manifest is allowed, but the log says it maps no files."""
    folder = _folder(tmp_path, f"{CLIENT_A}/a.json")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,uniqueClientId\n\n")

    with caplog.at_level(logging.WARNING):
        items = _walk(folder, manifest=str(manifest), license_id="L")

    assert [type(item) for item in items] == [Receipt]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            f"manifest {manifest} maps no files: it has a header line and no rows "
            "that name a file",
        )
    ]


def test_a_huge_client_id_in_a_row_is_quoted_short(tmp_path: Path) -> None:
    """A long non-GUID client id is cut in the reason, so reasons stay readable."""
    folder = _folder(tmp_path, "a.json")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"file,uniqueClientId\na.json,{'z' * 5000}\n")

    (item,) = _walk(folder, manifest=str(manifest), license_id="L")

    assert isinstance(item, Unusable)
    assert item.reason == (
        f"no client id: no folder on its path is named by a GUID; manifest line 2: "
        f"uniqueClientId '{'z' * 56}... is not a GUID; no top-level "
        "uniqueClientId field in the receipt"
    )


@pytest.mark.timeout(10)
@pytest.mark.parametrize("option", ["manifest", "clients_file"])
def test_a_device_as_manifest_is_refused_unread(tmp_path: Path, option: str) -> None:
    """/dev/zero never ends: a device is refused by its type, not read."""
    folder = _folder(tmp_path, "a.json")
    what = "manifest" if option == "manifest" else "clients file"

    with pytest.raises(ManifestError) as raised:
        ReceiptSource([folder], SourceOptions(**{option: "/dev/zero"}))

    assert str(raised.value) == (
        f"cannot read the {what} /dev/zero: a character device, not a regular file"
    )


def test_a_manifest_from_a_pipe_is_read(tmp_path: Path) -> None:
    """A FIFO with a writer (what a shell's <(...) gives) is a fine manifest."""
    folder = _folder(tmp_path, "a.json")
    fifo = tmp_path / "manifest.csv"
    os.mkfifo(fifo)
    text = f"file,uniqueClientId\na.json,{CLIENT_A}\n".encode()

    def write() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(text)

    writer = threading.Thread(target=write)
    writer.start()
    items = _walk(folder, manifest=str(fifo), license_id="L")
    writer.join()

    assert _clients(items) == {"a.json": (CLIENT_A, "L")}
