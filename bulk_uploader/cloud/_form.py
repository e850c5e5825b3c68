"""The multipart body of one receipt upload.

aiohttp's ``FormData`` percent-encodes a whole file name inside the quoted
``filename`` parameter, so a server reads ``Bon%20%C3%A4.json`` where the
receipt is called ``Bon ä.json``. The file part here carries the name twice
instead, the way that servers read back exactly:

* ``filename*=UTF-8''...``: the RFC 5987 extended value, percent-encoded
  UTF-8, which both aiohttp and ASP.NET prefer when present;
* ``filename="..."``: raw UTF-8 as browsers send it, with only ``"`` and
  control characters percent-encoded, for servers that ignore the former.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
from functools import lru_cache
from urllib.parse import quote

__all__ = ["content_type_for", "file_disposition", "receipt_form"]

_FALLBACK_TYPE = "application/octet-stream"
# Characters that may not appear raw inside a quoted header parameter.
_UNSAFE_IN_QUOTES = re.compile(r'["\x00-\x1f\x7f]')


def content_type_for(name: str) -> str:
    """The content type a receipt's file name suggests."""
    return _type_for_suffix(name.rpartition(".")[2].lower() if "." in name else "")


@lru_cache(maxsize=256)
def _type_for_suffix(suffix: str) -> str:
    if not suffix:
        return _FALLBACK_TYPE
    guessed, _encoding = mimetypes.guess_type(f"receipt.{suffix}", strict=False)
    return guessed or _FALLBACK_TYPE


def file_disposition(name: str) -> str:
    """The Content-Disposition of the ``file`` part for a receipt called ``name``."""
    plain = _UNSAFE_IN_QUOTES.sub(lambda m: f"%{ord(m.group()):02X}", name)
    extended = quote(name, safe="", encoding="utf-8")
    return f'form-data; name="file"; filename="{plain}"; filename*=UTF-8\'\'' + extended


def receipt_form(
    *, client_id: str, token: str, disposition: str, content_type: str, data: bytes
) -> tuple[bytes, str]:
    """A fresh body and its Content-Type: client id and token, then the file.

    The token goes in the body, never the query: query strings end up in
    access logs. The body is assembled as bytes in one go: aiohttp's
    ``MultipartWriter`` builds payload objects and headers per part, which
    costs more than the rest of an upload's client-side work.
    """
    boundary = secrets.token_hex(16)
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="uniqueClientId"\r\n\r\n'
        f"{client_id}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="licenseToken"\r\n\r\n'
        f"{token}\r\n"
        f"--{boundary}\r\n"
        f"Content-Disposition: {disposition}\r\n"
        f"Content-Type: {content_type}\r\n\r\n"
    )
    tail = f"\r\n--{boundary}--\r\n"
    body = b"".join((head.encode(), data, tail.encode()))
    return body, f"multipart/form-data; boundary={boundary}"
