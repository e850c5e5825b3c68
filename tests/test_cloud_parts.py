"""The cloud client's parts without a server: answers, settings, form, tokens."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from bulk_uploader.cloud import (
    DEFAULT_API_URL,
    DEFAULT_FUNCTIONS_URL,
    CloudClient,
    CloudSettings,
    MemoryTokenStore,
    StoredLicenceToken,
)
from bulk_uploader.cloud._answers import UnreadableAnswer, read_token, server_reason
from bulk_uploader.cloud._form import content_type_for, file_disposition, receipt_form
from bulk_uploader.cloud._http import Answer, redirect_target
from bulk_uploader.cloud._tokens import token_expiry
from bulk_uploader.errors import ConfigError

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "body",
    [
        TOKEN.encode(),
        f"  {TOKEN}\n".encode(),
        json.dumps(TOKEN).encode(),
        json.dumps({"token": TOKEN}).encode(),
        json.dumps({"accessToken": TOKEN, "expires": 3600}).encode(),
        json.dumps({"access_token": TOKEN, "token_type": "Bearer"}).encode(),
    ],
)
def test_token_is_read_from_every_answer_shape(body: bytes) -> None:
    """Bare text, a JSON string or an object with a known key all give the token."""
    assert read_token(body) == TOKEN


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty"),
        (b"\xff\xfe", "not UTF-8"),
        (b"<html><body>Sign in</body></html>", "not a single token"),
        (b"42", "JSON int"),
        (b'{"jwt": "abc"}', "none of the fields"),
        (b'{"token": 5}', "none of the fields"),
        (b'"two words"', "not a single token"),
    ],
)
def test_unusable_answers_are_refused_without_quoting_them(
    body: bytes, says: str
) -> None:
    """An answer without a token is an error that describes, not repeats, it."""
    with pytest.raises(UnreadableAnswer, match=says) as caught:
        read_token(body)
    if len(body) > 4:
        assert body.decode(errors="replace") not in str(caught.value)


def test_server_reason_takes_the_message_of_a_json_error() -> None:
    """ProblemDetails-style and message-style JSON errors give their text."""
    problem = {"title": "Bad Request", "detail": "file type not allowed"}
    assert server_reason(json.dumps(problem).encode()) == "file type not allowed"
    assert server_reason(b'{"message": "no such licence"}') == "no such licence"
    assert server_reason(b"plain words") == "plain words"
    assert server_reason(b"") == "no reason given"


def test_server_reason_is_short_single_line_and_masks_secrets() -> None:
    """Control characters go, length is capped, secrets and JWTs are masked."""
    body = f"bad\r\n\x00token {TOKEN} for s3cret-4711 " + "x" * 500
    reason = server_reason(body.encode(), hide=["s3cret-4711"])
    assert "\n" not in reason
    assert "\x00" not in reason
    assert TOKEN not in reason
    assert "s3cret" not in reason
    assert reason.startswith("bad token *** for ***")
    assert len(reason) <= 200


def test_server_reason_masks_encoded_and_cut_secrets() -> None:
    """Percent-, JSON-encoded and upper-cased echoes are masked; so is a cut one."""
    secret = "Sëcret+/&=Zq9"
    body = json.dumps({"error": f"form secret=S%C3%ABcret%2B%2F%26%3DZq9 {secret}"})
    assert server_reason(body.encode(), hide=[secret]) == "form secret=*** ***"
    shouted = server_reason(b"token OPAQUEABC123", hide=["opaqueAbc123"])
    assert shouted == "token ***"
    cut = server_reason(b"refused token OPAQUE", hide=["OPAQUEABC123"], complete=False)
    assert "OPAQ" not in cut
    assert cut.startswith("refused")


def test_redirect_target_names_only_a_masked_host() -> None:
    """User, password, path and query never show; a secret as host is masked."""
    location = "https://u:pw@files.example:8443/p/TOKEN123?licenseToken=TOKEN123"
    answer = Answer(status=307, body=b"", retry_after=None, location=location)
    assert redirect_target(answer, hide=["TOKEN123"]) == "files.example:8443"
    sneaky = Answer(307, b"", None, "https://TOKEN123.example/")
    assert redirect_target(sneaky, hide=["TOKEN123"]) == "***.example"


def test_short_strings_are_words_not_secrets() -> None:
    """A secret shorter than 8 characters does not garble the server's text."""
    reason = server_reason(b"unknown API key or wrong secret", hide=["wrong"])
    assert reason == "unknown API key or wrong secret"


def test_statistics_stays_cheap_with_many_clients() -> None:
    """statistics() does not grow with the clients known: 5000 calls in a blink."""
    store = MemoryTokenStore()
    for n in range(5000):
        store.save_licence_token(
            StoredLicenceToken(f"pos-{n}", "lic", TOKEN, time.time() + 9e6, 0.0)
        )
    cloud = CloudClient(CloudSettings(api_key="k", api_secret="s"), token_store=store)
    for n in range(5000):
        assert cloud.cached_licence(f"pos-{n}", "lic") is not None

    started = time.perf_counter()
    for _ in range(5000):
        cloud.statistics()
    # A few microseconds a call; the bound is far above that, for busy machines.
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "url",
    [
        "http://api.retailforce.cloud",
        "http://10.0.0.5:8080",
        "http://127.0.0.1.evil.example",
        "ftp://127.0.0.1",
        "https://user:pw@api.retailforce.cloud",
        "https://api.retailforce.cloud?key=1",
        "not a url",
    ],
)
def test_unsafe_base_urls_are_refused(url: str) -> None:
    """Plain http off this machine, credentials or queries in URLs: ConfigError."""
    with pytest.raises(ConfigError) as caught:
        CloudSettings(api_key="k", api_secret="s", api_url=url)
    assert "pw" not in str(caught.value)
    with pytest.raises(ConfigError):
        CloudSettings(api_key="k", api_secret="s", functions_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.3.2.1",
        "http://[::1]:9000",
        "http://localhost:1234/base/",
        "https://staging.example.com/prefix",
    ],
)
def test_loopback_http_and_any_https_are_accepted(url: str) -> None:
    """Plain http to this machine is fine, as is https anywhere."""
    settings = CloudSettings(
        api_key="k", api_secret="s", api_url=url, functions_url=url
    )
    assert settings.api_url == url


def test_settings_defaults_and_repr_hide_credentials() -> None:
    """Defaults point at RetailForce; the repr shows neither key nor secret."""
    settings = CloudSettings(api_key="the-key-123", api_secret="the-secret-456")
    assert settings.api_url == DEFAULT_API_URL
    assert settings.functions_url == DEFAULT_FUNCTIONS_URL
    assert settings.licence_rate < 1
    assert "the-key-123" not in repr(settings)
    assert "the-secret-456" not in repr(settings)
    assert "api.retailforce.cloud" in repr(settings)


@pytest.mark.parametrize(
    ("field", "value"),
    [("concurrency", 0), ("rate", 0.0), ("licence_rate", -1.0), ("burst", 0)],
)
def test_settings_refuse_nonsense_numbers(field: str, value: float) -> None:
    """A zero pool or a negative rate is a usage error, not a hang."""
    values: dict[str, Any] = {"api_key": "k", "api_secret": "s", field: value}
    with pytest.raises(ConfigError):
        CloudSettings(**values)


def test_stored_token_repr_hides_the_token() -> None:
    """A stored licence token can be logged without its secret part."""
    stored = StoredLicenceToken("pos-a", "lic", TOKEN, 2e9, 1.9e9)
    assert TOKEN not in repr(stored)
    assert "pos-a" in repr(stored)


def test_expiry_is_read_without_checking_the_signature() -> None:
    """exp comes from any JWT, signed by whoever; none without a readable exp."""
    exp = int(time.time()) + 3600
    signed = jwt.encode({"exp": exp}, "someone-elses-key-of-32-bytes!!!", "HS256")
    assert token_expiry(signed) == exp
    without = jwt.encode({"sub": "x"}, "someone-elses-key-of-32-bytes!!!", "HS256")
    assert token_expiry(without) is None
    assert token_expiry("not-a-jwt") is None
    odd = jwt.encode({"exp": "tomorrow"}, "someone-elses-key-of-32-bytes!!!", "HS256")
    assert token_expiry(odd) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("r-1.json", "application/json"),
        ("scan.PDF", "application/pdf"),
        ("photo.jpg", "image/jpeg"),
        ("receipt", "application/octet-stream"),
        ("receipt.zzz-unknown", "application/octet-stream"),
    ],
)
def test_content_type_follows_the_extension(name: str, expected: str) -> None:
    """The part's content type comes from the name, octet-stream otherwise."""
    assert content_type_for(name) == expected


def test_xml_receipts_get_an_xml_type() -> None:
    """XML receipts are typed as XML (text/ or application/, per platform)."""
    assert content_type_for("bon.xml").endswith("/xml")


def test_form_carries_fields_in_the_body_and_the_exact_name() -> None:
    """Client id and token are form fields; the name goes both plain and RFC 5987."""
    name = 'Bon "ä"\r\n.json'
    body, content_type = receipt_form(
        client_id="pos-a",
        token=TOKEN,
        disposition=file_disposition(name),
        content_type="application/json",
        data=b"{}",
    )
    text = body.decode()
    boundary = content_type.removeprefix("multipart/form-data; boundary=")
    assert boundary != content_type
    assert text.startswith(f"--{boundary}\r\n")
    assert text.endswith(f"\r\n--{boundary}--\r\n")
    assert 'name="uniqueClientId"\r\n\r\npos-a\r\n' in text
    assert f'name="licenseToken"\r\n\r\n{TOKEN}\r\n' in text
    assert 'filename="Bon %22ä%22%0D%0A.json"' in text
    assert "filename*=UTF-8''Bon%20%22%C3%A4%22%0D%0A.json" in text
    assert "Content-Type: application/json\r\n\r\n{}\r\n" in text


def test_every_body_has_its_own_boundary() -> None:
    """Two bodies for the same receipt differ in boundary, not in content."""
    parts: dict[str, Any] = {
        "client_id": "pos-a",
        "token": TOKEN,
        "disposition": file_disposition("r.json"),
        "content_type": "application/json",
        "data": b"{}",
    }
    first, first_type = receipt_form(**parts)
    second, second_type = receipt_form(**parts)
    first_boundary = first_type.rpartition("=")[2].encode()
    second_boundary = second_type.rpartition("=")[2].encode()
    assert first_boundary != second_boundary
    assert first.replace(first_boundary, b"B") == second.replace(second_boundary, b"B")
