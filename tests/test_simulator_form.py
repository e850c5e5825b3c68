"""How the simulator reads upload forms: file names, and malformed requests."""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import aiohttp
import anyio
import pytest
from helpers import LICENCE_PATH, LOGON_PATH, UPLOAD_PATH

from bulk_uploader.simulator import Simulator
from bulk_uploader.simulator._disposition import (
    DispositionError,
    parse_form_disposition,
)

CLIENT = "3f1c2a9e-0000-4000-8000-000000000001"
BOUNDARY = "simulator-test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"

pytestmark = pytest.mark.anyio

TRICKY_NAMES = [
    "plain.json",
    "Kassenbon Ä ö ü ß.json",
    "レシート.xml",
    "emoji 🧾.pdf",
    'quote " and \\ backslash.json',
    "percent %41 %25 %.json",
    "/leading/slash.json",
    "semi;colon=equals.json",
    "  spaced  .txt",
]


@pytest.fixture
async def token(simulator: Simulator, session: aiohttp.ClientSession) -> str:
    """A licence token for CLIENT from the conftest simulator."""
    form = {"key": "demo-key", "secret": "demo-secret"}
    async with session.post(simulator.url + LOGON_PATH, data=form) as response:
        bearer = await response.json()
    params = {"uniqueClientId": CLIENT, "accessLicenseId": "licence-1"}
    headers = {"Authorization": f"Bearer {bearer}"}
    async with session.get(
        simulator.url + LICENCE_PATH, params=params, headers=headers
    ) as response:
        licence: str = await response.json()
    return licence


def part(headers: str, body: bytes) -> bytes:
    return f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + body + b"\r\n"


def fields(token: str) -> bytes:
    return part(
        'Content-Disposition: form-data; name="uniqueClientId"', CLIENT.encode()
    ) + part('Content-Disposition: form-data; name="licenseToken"', token.encode())


def file_part(disposition_params: str, body: bytes = b"{}") -> bytes:
    return part(f"Content-Disposition: form-data; {disposition_params}", body)


END = f"--{BOUNDARY}--\r\n".encode()


async def post_raw(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    content_type: str | None = MULTIPART,
) -> tuple[int, str]:
    headers = {} if content_type is None else {"Content-Type": content_type}
    async with session.post(url, data=body, headers=headers) as response:
        return response.status, await response.text()


@pytest.mark.parametrize("name", TRICKY_NAMES)
async def test_aiohttp_client_file_names_arrive_unchanged(
    simulator: Simulator, session: aiohttp.ClientSession, token: str, name: str
) -> None:
    """Names as aiohttp percent-encodes them are recorded exactly as sent."""
    form = aiohttp.FormData()
    form.add_field("uniqueClientId", CLIENT)
    form.add_field("licenseToken", token)
    form.add_field("file", io.BytesIO(b"{}"), filename=name)

    async with session.post(simulator.url + UPLOAD_PATH, data=form) as response:
        assert response.status == 200

    assert [r.name for r in simulator.received()] == [name]


@pytest.mark.parametrize("name", TRICKY_NAMES)
async def test_extended_filename_star_is_decoded(
    simulator: Simulator, session: aiohttp.ClientSession, token: str, name: str
) -> None:
    """An RFC 5987 filename*=UTF-8''... wins over a plain ASCII fallback."""
    # RFC 5987 leaves only letters, digits and !#$&+-.^_`|~ unescaped.
    star = quote(name, safe="!#$&+-.^_`|~")
    params = f'name="file"; filename="fallback.json"; filename*=UTF-8\'\'{star}'
    body = fields(token) + file_part(params) + END

    status, _ = await post_raw(session, simulator.url + UPLOAD_PATH, body)

    assert status == 200
    assert simulator.received()[0].name == name


async def test_raw_utf8_browser_style_names_are_kept(
    simulator: Simulator, session: aiohttp.ClientSession, token: str
) -> None:
    """Raw UTF-8 names keep their percent signs; only %22 becomes a quote."""
    params = 'name="file"; filename="Bon Ä 100%41 %22x%22.json"'
    body = fields(token) + file_part(params) + END

    status, _ = await post_raw(session, simulator.url + UPLOAD_PATH, body)

    assert status == 200
    assert simulator.received()[0].name == 'Bon Ä 100%41 "x".json'


async def test_form_fields_may_follow_the_file_part(
    simulator: Simulator, session: aiohttp.ClientSession, token: str
) -> None:
    """The order of parts does not matter; unknown extra fields are ignored."""
    extra = part('Content-Disposition: form-data; name="comment"', b"ignored")
    body = file_part('name="file"; filename="late.json"') + extra + fields(token) + END

    status, _ = await post_raw(session, simulator.url + UPLOAD_PATH, body)

    assert status == 200
    assert simulator.received()[0].name == "late.json"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('form-data; name="file"; filename="a.json"', ("file", "a.json")),
        ("form-data; name=file; filename=a.json", ("file", "a.json")),
        ('FORM-DATA; NAME="file"; FILENAME="a.json";', ("file", "a.json")),
        ('form-data; name="uniqueClientId"', ("uniqueClientId", None)),
        ('form-data; name="file"; filename="a\\"b.json"', ("file", 'a"b.json')),
        ('form-data; name="file"; filename="%C3%A4.json"', ("file", "ä.json")),
        ('form-data; name="file"; filename="%FF.json"', ("file", "%FF.json")),
        (
            "form-data; name=\"file\"; filename*=utf-8'de'%C3%A4.json",
            ("file", "ä.json"),
        ),
        (
            "form-data; name=\"file\"; filename*=iso-8859-1''%E4.json",
            ("file", "ä.json"),
        ),
    ],
)
def test_content_disposition_forms_are_understood(
    header: str, expected: tuple[str, str | None]
) -> None:
    """Tokens, quoted strings, escapes, percent forms and charsets all parse."""
    assert parse_form_disposition(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        'attachment; name="file"',
        'form-data; filename="a.json"',
        'form-data; name="file"; filename="open',
        'form-data; name="file"; filename*=no-quotes',
        "form-data; name=\"file\"; filename*=no-such-charset''a",
        "form-data; name=\"file\"; filename*=utf-8''%FF",
    ],
)
def test_unusable_content_disposition_is_refused(header: str | None) -> None:
    """Headers that name no field or cannot be decoded raise DispositionError."""
    with pytest.raises(DispositionError):
        parse_form_disposition(header)


MALFORMED: dict[str, Callable[[str], bytes]] = {
    "no closing boundary": lambda t: fields(t) + file_part('name="file"; filename="a"'),
    "body cut in a part": lambda t: fields(t) + f"--{BOUNDARY}\r\n".encode(),
    "garbage": lambda t: b"\x00\xff not multipart at all" * 5,
    "empty body": lambda t: b"",
    "no file part": lambda t: fields(t) + END,
    "file without name": lambda t: fields(t) + file_part('name="file"') + END,
    "two files": lambda t: (
        fields(t)
        + file_part('name="file"; filename="a"')
        + file_part('name="file"; filename="b"')
        + END
    ),
    "part without disposition": lambda t: (
        fields(t) + part("Content-Type: text/plain", b"x") + END
    ),
    "broken disposition": lambda t: (
        fields(t) + file_part('name="file"; filename="a') + END
    ),
    "header line too long": lambda t: (
        fields(t) + file_part('name="file"; filename="' + "a" * 20_000 + '"') + END
    ),
    "nested multipart": lambda t: (
        fields(t)
        + part(
            'Content-Disposition: form-data; name="file"\r\n'
            "Content-Type: multipart/mixed; boundary=inner",
            b"--inner\r\n\r\nx\r\n--inner--",
        )
        + END
    ),
    "field not utf-8": lambda t: (
        part('Content-Disposition: form-data; name="uniqueClientId"', b"\xff\xfe")
        + file_part('name="file"; filename="a"')
        + END
    ),
    "field far too long": lambda t: (
        part('Content-Disposition: form-data; name="licenseToken"', b"x" * 100_000)
        + file_part('name="file"; filename="a"')
        + END
    ),
    "no client id": lambda t: (
        part('Content-Disposition: form-data; name="licenseToken"', t.encode())
        + file_part('name="file"; filename="a"')
        + END
    ),
    "no licence token": lambda t: (
        part('Content-Disposition: form-data; name="uniqueClientId"', CLIENT.encode())
        + file_part('name="file"; filename="a"')
        + END
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_malformed_multipart_uploads_get_400_with_a_reason(
    simulator: Simulator, session: aiohttp.ClientSession, token: str, case: str
) -> None:
    """Every malformed upload is a 400 with a reason, and the server goes on."""
    status, reason = await post_raw(
        session, simulator.url + UPLOAD_PATH, MALFORMED[case](token)
    )

    assert status == 400
    assert reason
    assert token not in reason
    good = fields(token) + file_part('name="file"; filename="ok.json"') + END
    assert (await post_raw(session, simulator.url + UPLOAD_PATH, good))[0] == 200
    assert simulator.stats().calls["upload"] == {400: 1, 200: 1}


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        f"multipart/form-data; boundary={'b' * 80}",
        "multipart/form-data; boundary=other",
    ],
)
async def test_uploads_that_are_not_usable_multipart_get_400(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    token: str,
    content_type: str | None,
) -> None:
    """A wrong, boundary-less or mismatched content type is a 400, not a 500."""
    body = fields(token) + file_part('name="file"; filename="a"') + END

    status, reason = await post_raw(
        session, simulator.url + UPLOAD_PATH, body, content_type
    )

    assert status == 400
    assert reason


async def test_query_parameters_alone_need_a_file_part(
    simulator: Simulator, session: aiohttp.ClientSession, token: str
) -> None:
    """Parameters in the query with an empty form still lack the file: 400."""
    url = simulator.url + UPLOAD_PATH
    params = {"uniqueClientId": CLIENT, "licenseToken": token}
    async with session.post(
        url, params=params, data=END, headers={"Content-Type": MULTIPART}
    ) as response:
        assert response.status == 400
        assert "file" in await response.text()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
        (b"", "multipart/form-data"),
    ],
)
async def test_malformed_logon_bodies_get_400(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    body: bytes,
    content_type: str,
) -> None:
    """A logon body that cannot be parsed is a 400 with a reason."""
    status, reason = await post_raw(
        session, simulator.url + LOGON_PATH, body, content_type
    )

    assert status == 400
    assert reason


async def test_delimiters_split_across_reads_are_found(
    simulator: Simulator, session: aiohttp.ClientSession, token: str
) -> None:
    """Delimiters split across reads are still found; content is hashed whole."""
    content = b"\r\n-" + f"\r\n--{BOUNDARY[:-1]}x".encode() + bytes(range(256)) * 40
    body = fields(token) + file_part('name="file"; filename="slow.bin"', content)
    body += END

    # Cut the body in the middle of every delimiter (and of the near-miss in
    # the content), pausing after each piece so that the server reads them
    # one by one.
    delimiter = f"\r\n--{BOUNDARY}".encode()
    cuts = [0]
    while (found := body.find(delimiter[:8], cuts[-1] + 1)) >= 0:
        cuts.append(found + 5)
    cuts.append(len(body))

    async def trickle() -> AsyncIterator[bytes]:
        for start, end in itertools.pairwise(cuts):
            yield body[start:end]
            await anyio.sleep(0.01)

    headers = {"Content-Type": MULTIPART}
    async with session.post(
        simulator.url + UPLOAD_PATH, data=trickle(), headers=headers
    ) as response:
        assert response.status == 200

    [receipt] = simulator.received()
    assert receipt.size == len(content)
    assert receipt.sha256 == hashlib.sha256(content).hexdigest()


async def test_preamble_padding_epilogue_and_quoted_boundary_are_tolerated(
    simulator: Simulator, session: aiohttp.ClientSession, token: str
) -> None:
    """RFC 2046 extras around the parts do not disturb the form."""
    padded = part(
        'Content-Disposition: form-data; name="file"; filename="p.json"', b"{}"
    ).replace(f"--{BOUNDARY}\r\n".encode(), f"--{BOUNDARY} \t\r\n".encode())
    body = b"preamble to ignore\r\n" + fields(token) + padded + END + b"epilogue"

    status, _ = await post_raw(
        session,
        simulator.url + UPLOAD_PATH,
        body,
        f'multipart/form-data; boundary="{BOUNDARY}"',
    )

    assert status == 200
    assert simulator.received()[0].name == "p.json"


async def test_a_client_hanging_up_mid_body_is_counted_without_an_error(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that disconnects mid-upload counts as 499; nothing is logged."""
    host, port = simulator.url.removeprefix("http://").rsplit(":", 1)
    stream = await anyio.connect_tcp(host, int(port))
    await stream.send(
        b"POST /api/digitalReceipt HTTP/1.1\r\nHost: sim\r\n"
        + f"Content-Type: {MULTIPART}\r\nContent-Length: 100000\r\n\r\n".encode()
        + file_part('name="file"; filename="cut.json"', b"partial")
    )
    await anyio.sleep(0.05)
    await stream.aclose()

    # The simulator offers no event to wait on; its stats are cheap to poll.
    with anyio.fail_after(5):
        while simulator.stats().total("upload") == 0:  # noqa: ASYNC110
            await anyio.sleep(0.01)

    assert simulator.stats().calls["upload"] == {499: 1}
    assert simulator.received() == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
