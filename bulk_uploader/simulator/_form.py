"""Reading one digitalReceipt upload: its parameters and its file part."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from aiohttp import hdrs, web
from aiohttp.helpers import parse_mimetype

from ._disposition import DispositionError, parse_form_disposition
from ._multipart import MultipartError, PartSink, read_multipart

__all__ = ["FormError", "UploadForm", "read_upload_form"]

CLIENT_FIELD = "uniqueClientId"
TOKEN_FIELD = "licenseToken"
FILE_FIELD = "file"

# A uniqueClientId or a licence token is a few hundred bytes at most.
_MAX_FIELD = 16 * 1024
# RFC 2046: a boundary has 1 to 70 characters.
_MAX_BOUNDARY = 70


class FormError(Exception):
    """The upload request is malformed; the message says how (for a 400)."""


@dataclass(slots=True)
class UploadForm:
    """An upload's parameters and a fingerprint of its file (not the bytes)."""

    client_id: str
    licence_token: str
    token_in_form: bool
    name: str
    size: int
    digest: bytes


class _FileSink:
    """Hashes and counts the file part; its bytes go nowhere else."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.size = 0

    def feed(self, data: bytes) -> None:
        self.sha256.update(data)
        self.size += len(data)


class _FieldSink:
    """Collects a short text field."""

    def __init__(self) -> None:
        self.value = b""

    def feed(self, data: bytes) -> None:
        self.value += data
        if len(self.value) > _MAX_FIELD:
            raise FormError("a form field is too long")

    def text(self) -> str:
        try:
            return self.value.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise FormError("a form field is not UTF-8") from exc


class _Ignored:
    def feed(self, data: bytes) -> None:
        pass


class _Form:
    """The parts of one upload form, as the multipart reader finds them."""

    def __init__(self) -> None:
        self.file: _FileSink | None = None
        self.name = ""
        self.fields: dict[str, _FieldSink] = {}

    def open_part(self, headers: dict[str, str]) -> PartSink:
        field, filename = parse_form_disposition(headers.get("content-disposition"))
        if field == FILE_FIELD:
            if self.file is not None:
                raise FormError("more than one file part")
            if not filename:
                raise FormError("the file part has no file name")
            self.name = filename
            self.file = _FileSink()
            return self.file
        if field in (CLIENT_FIELD, TOKEN_FIELD):
            sink = self.fields[field] = _FieldSink()
            return sink
        return _Ignored()

    def field(self, name: str) -> str:
        sink = self.fields.get(name)
        return "" if sink is None else sink.text()


async def read_upload_form(request: web.Request) -> UploadForm:
    """Parse the multipart body, hashing the file part as it streams past.

    Parameters may come as query or form fields; a form field wins when both
    are present, because that is where a careful client puts the token.
    """
    mimetype = parse_mimetype(request.headers.get(hdrs.CONTENT_TYPE, ""))
    if (mimetype.type, mimetype.subtype) != ("multipart", "form-data"):
        raise FormError("expected a multipart/form-data body with a file part")
    boundary = mimetype.parameters.get("boundary", "")
    if not 0 < len(boundary) <= _MAX_BOUNDARY or not boundary.isascii():
        raise FormError("the multipart boundary is missing or invalid")

    form = _Form()
    try:
        await read_multipart(request.content, boundary, form.open_part)
    except (MultipartError, DispositionError) as exc:
        raise FormError(f"malformed multipart body: {exc}") from exc

    if form.file is None:
        raise FormError("the form has no 'file' part")
    form_token = form.field(TOKEN_FIELD)
    client_id = form.field(CLIENT_FIELD) or request.query.get(CLIENT_FIELD)
    token = form_token or request.query.get(TOKEN_FIELD)
    if not client_id:
        raise FormError("uniqueClientId is missing (query or form field)")
    if not token:
        raise FormError("licenseToken is missing (query or form field)")

    return UploadForm(
        client_id=client_id,
        licence_token=token,
        token_in_form=bool(form_token),
        name=form.name,
        size=form.file.size,
        digest=form.file.sha256.digest(),
    )
