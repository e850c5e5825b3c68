"""Helpers for tests that drive the real CLI as a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bulk_uploader.cloud import CloudSettings
from bulk_uploader.samples import SampleSet
from bulk_uploader.settings import UploadSettings
from bulk_uploader.simulator import Simulator, SimulatorThread
from bulk_uploader.sources import SourceOptions

# The contract's paths, spelled out here rather than taken from the product,
# so a wrong path in the product fails the tests.
LOGON_PATH = "/api/v1.0/authenticate/logon"
LICENCE_PATH = "/api/v1.0/licensing/token"
UPLOAD_PATH = "/api/digitalReceipt"

KEY = "demo-key"
SECRET = "demo-secret"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run: demo credentials, no terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAILFORCE_")}
    env.update(RETAILFORCE_API_KEY=KEY, RETAILFORCE_API_SECRET=SECRET)
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bulk_uploader", *args]


def run_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``bulk-uploader ARGS`` to its end, capturing what a person would see."""
    return subprocess.run(
        cli_command(*args),
        env=dict(env) if env is not None else cli_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def upload_args(url: str, samples: SampleSet, state: Path, *more: str) -> list[str]:
    """``upload`` with the samples, against the simulator at ``url``."""
    return [
        "upload",
        *(str(source) for source in samples.sources),
        "--api-url",
        url,
        "--functions-url",
        url,
        "--clients",
        str(samples.clients_file),
        "--state",
        str(state),
        "--licence-rate",
        "200",
        "--progress",
        "lines",
        *more,
    ]


def settings_for(
    url: str, samples: SampleSet, state: Path, **overrides: object
) -> UploadSettings:
    """In-process settings equivalent to ``upload_args``."""
    cloud_overrides = {
        key: overrides.pop(key)
        for key in ("concurrency", "rate", "api_secret", "api_key", "max_attempts")
        if key in overrides
    }
    cloud = CloudSettings(
        api_key=str(cloud_overrides.pop("api_key", KEY)),
        api_secret=str(cloud_overrides.pop("api_secret", SECRET)),
        api_url=url,
        functions_url=url,
        licence_rate=200.0,
        **cloud_overrides,  # type: ignore[arg-type]
    )
    return UploadSettings(
        sources=tuple(str(source) for source in samples.sources),
        cloud=cloud,
        source_options=SourceOptions(clients_file=str(samples.clients_file)),
        state=state,
        progress="none",
        **overrides,  # type: ignore[arg-type]
    )


def cloud_settings(
    target: str | Simulator | SimulatorThread, **overrides: Any
) -> CloudSettings:
    """Demo credentials against a simulator (or a URL); licence calls not paced."""
    url = target if isinstance(target, str) else target.url
    values: dict[str, Any] = {
        "api_key": KEY,
        "api_secret": SECRET,
        "api_url": url,
        "functions_url": url,
        "licence_rate": 1000.0,
    }
    values.update(overrides)
    return CloudSettings(**values)
