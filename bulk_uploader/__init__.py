"""Send digital receipts in bulk to the RetailForce cloud.

The public API for scripts: build ``UploadSettings`` and await
``run_upload``; it returns a ``RunSummary``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "CloudSettings",
    "RunSummary",
    "Shard",
    "SourceOptions",
    "UploadSettings",
    "__version__",
    "run_upload",
]

if TYPE_CHECKING:
    from bulk_uploader.cloud import CloudSettings
    from bulk_uploader.pipeline import run_upload
    from bulk_uploader.report import RunSummary
    from bulk_uploader.settings import Shard, UploadSettings
    from bulk_uploader.sources import SourceOptions

_LAZY = {
    "CloudSettings": "bulk_uploader.cloud",
    "run_upload": "bulk_uploader.pipeline",
    "RunSummary": "bulk_uploader.report",
    "Shard": "bulk_uploader.settings",
    "UploadSettings": "bulk_uploader.settings",
    "SourceOptions": "bulk_uploader.sources",
}


def __getattr__(name: str) -> Any:
    # Imported on first use, so `bulk-uploader --version` and the simulator do
    # not pay for the whole upload stack.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bulk_uploader' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
