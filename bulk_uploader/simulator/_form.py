"""Reading one digitalReceipt upload: its parameters and its file part."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import (
    BadContentDispositionHeader,
    BadContentDispositionParam,
    BodyPartReader,
)

from ._disposition import DispositionError, parse_form_disposition

__all__ = ["FormError", "UploadForm", "read_upload_form"]

CLIENT_FIELD = "uniqueClientId"
TOKEN_FIELD = "licenseToken"
FILE_FIELD = "file"

_CHUNK = 256 * 1024
# A uniqueClientId or a licence token is a few hundred bytes at most.
_MAX_FIELD = 16 * 1024


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


async def read_upload_form(request: web.Request) -> UploadForm:
    """Parse the multipart body, hashing the file part as it streams past.

    Parameters may come as query or form fields; a form field wins when both
    are present, because that is where a careful client puts the token.
    """
    if request.content_type != "multipart/form-data":
        raise FormError("expected a multipart/form-data body with a file part")

    fields: dict[str, str] = {}
    name: str | None = None
    size = 0
    digest = b""
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise FormError("nested multipart bodies are not accepted")
            field, filename = parse_form_disposition(
                part.headers.get(hdrs.CONTENT_DISPOSITION)
            )
            if field == FILE_FIELD:
                if name is not None:
                    raise FormError("more than one file part")
                if not filename:
                    raise FormError("the file part has no file name")
                name = filename
                size, digest = await _hash_part(part)
            elif field in (CLIENT_FIELD, TOKEN_FIELD):
                fields[field] = await _read_field(part)
            else:
                await part.release()
    except (DispositionError, ValueError, AssertionError, RuntimeError) as exc:
        raise FormError(f"malformed multipart body: {exc}") from exc
    except (BadContentDispositionHeader, BadContentDispositionParam) as exc:
        # aiohttp only warns about these; they arrive here when a test
        # runs with warnings turned into errors.
        raise FormError("malformed Content-Disposition header") from exc
    except HttpProcessingError as exc:
        raise FormError(f"malformed multipart body: {exc.message}") from exc

    if name is None:
        raise FormError("the form has no 'file' part")

    client_id = fields.get(CLIENT_FIELD) or request.query.get(CLIENT_FIELD)
    token_in_form = bool(fields.get(TOKEN_FIELD))
    token = fields.get(TOKEN_FIELD) or request.query.get(TOKEN_FIELD)
    if not client_id:
        raise FormError("uniqueClientId is missing (query or form field)")
    if not token:
        raise FormError("licenseToken is missing (query or form field)")

    return UploadForm(client_id, token, token_in_form, name, size, digest)


async def _hash_part(part: BodyPartReader) -> tuple[int, bytes]:
    sha = hashlib.sha256()
    size = 0
    while chunk := await part.read_chunk(_CHUNK):
        sha.update(chunk)
        size += len(chunk)

    return size, sha.digest()


async def _read_field(part: BodyPartReader) -> str:
    value = b""
    while chunk := await part.read_chunk(_MAX_FIELD):
        value += chunk
        if len(value) > _MAX_FIELD:
            raise FormError("a form field is too long")
    try:
        return value.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise FormError("a form field is not UTF-8") from exc
