"""The RetailForce cloud: logon, licence tokens, receipt uploads.

``CloudClient`` makes the three calls of the contract for one run, with a
pooled session, a rate limiter, retries, and licence tokens that are cached,
fetched once however many uploads need them, and kept in a
``LicenceTokenStore`` for the next run.
"""

from ._client import CloudClient, CloudStatistics
from ._settings import DEFAULT_API_URL, DEFAULT_FUNCTIONS_URL, CloudSettings
from ._tokens import LicenceTokenStore, MemoryTokenStore, StoredLicenceToken

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_FUNCTIONS_URL",
    "CloudClient",
    "CloudSettings",
    "CloudStatistics",
    "LicenceTokenStore",
    "MemoryTokenStore",
    "StoredLicenceToken",
]
