"""Settings from a TOML file, the environment and flags, in that order.

One table, ``UPLOAD_OPTIONS``, names every setting of ``upload`` once: its
flag, its key in the TOML file (the flag without dashes, ``-`` as ``_``), its
environment variable where it has one, how its text is checked, and its
default. Flags win over the environment, which wins over the file.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import stat
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulk_uploader.cloud import DEFAULT_API_URL, DEFAULT_FUNCTIONS_URL, CloudSettings
from bulk_uploader.errors import ConfigError
from bulk_uploader.journal import default_state_path
from bulk_uploader.settings import DEFAULT_CONCURRENCY, Shard, UploadSettings
from bulk_uploader.sources import DEFAULT_MAX_SIZE, SourceOptions

__all__ = [
    "ENV_API_KEY",
    "ENV_API_SECRET",
    "ENV_API_URL",
    "ENV_FUNCTIONS_URL",
    "UPLOAD_OPTIONS",
    "add_upload_arguments",
    "parse_duration",
    "parse_size",
    "settings_from_arguments",
]

logger = logging.getLogger(__name__)

ENV_API_KEY = "RETAILFORCE_API_KEY"
ENV_API_SECRET = "RETAILFORCE_API_SECRET"  # noqa: S105 - a variable name
ENV_API_URL = "RETAILFORCE_API_URL"
ENV_FUNCTIONS_URL = "RETAILFORCE_FUNCTIONS_URL"
MAX_CONCURRENCY = 512
MAX_SIZE = 2 * 1024**3
_ARCHIVE_SUFFIXES = {".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz"}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: object) -> float:
    """``90``, ``90s``, ``15m``, ``8h``, ``1d`` → seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a duration (like 90s, 15m, 8h)")
        unit = (match.group(2) or "s").lower()
        seconds = float(match.group(1)) * _UNIT_SECONDS[unit]
    if seconds <= 0 or not math.isfinite(seconds):
        raise ValueError(f"{text!r} must be more than zero")
    return seconds


def parse_size(text: object) -> int:
    """``10MB``, ``512k``, ``1048576`` → bytes (K, M, G are powers of 1024)."""
    if isinstance(text, int) and not isinstance(text, bool):
        size = text
    else:
        match = _SIZE.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a size (like 10MB or 512KB)")
        unit = (match.group(2) or "b")[0].lower()
        number = float(match.group(1)) * 1024 ** "bkmg".index(unit)
        size = int(number) if math.isfinite(number) else MAX_SIZE + 1
    if size <= 0:
        raise ValueError(f"{text!r} must be more than zero")
    if size > MAX_SIZE:
        raise ValueError(f"{text!r} is more than the largest allowed, 2GB")
    return size


def _positive_int(text: object) -> int:
    try:
        value = int(str(text))
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_CONCURRENCY:
        raise ValueError(f"{value} is outside 1 to {MAX_CONCURRENCY}")
    return value


def _positive_float(text: object) -> float:
    try:
        value = float(str(text))
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{text!r} must be more than zero")
    return value


def _shard(text: object) -> Shard:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match:
        raise ValueError(f"{text!r} is not of the form I/N, like 0/4")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or index >= count:
        raise ValueError(f"{text!r}: I must be from 0 to N-1")
    return Shard(index, count)


def _choice(*choices: str) -> Callable[[object], str]:
    def check(text: object) -> str:
        if str(text) not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return str(text)

    return check


def _globs(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{value!r} is not a glob or a list of globs")


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a text")
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


@dataclass(frozen=True)
class Option:
    """One setting of ``upload``: flag, file key, environment, check, default."""

    flag: str
    help: str
    convert: Callable[[Any], Any] = _text
    default: Any = None
    env: str | None = None
    metavar: str | None = None
    argparse: Mapping[str, Any] = field(default_factory=dict)
    is_path: bool = False

    @property
    def key(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


UPLOAD_OPTIONS: tuple[Option, ...] = (
    Option(
        "--api-url",
        "base URL of the API host (logon, licence tokens)",
        default=DEFAULT_API_URL,
        env=ENV_API_URL,
        metavar="URL",
    ),
    Option(
        "--functions-url",
        "base URL of the functions host (receipt uploads)",
        default=DEFAULT_FUNCTIONS_URL,
        env=ENV_FUNCTIONS_URL,
        metavar="URL",
    ),
    Option(
        "--api-key",
        f"distributor API key (better: ${ENV_API_KEY})",
        env=ENV_API_KEY,
        metavar="KEY",
    ),
    Option(
        "--api-secret-file",
        "read the API secret from the first line of FILE",
        metavar="FILE",
        is_path=True,
    ),
    Option(
        "--api-secret",
        f"API secret; visible in process lists, prefer "
        f"${ENV_API_SECRET} or --api-secret-file",
        env=ENV_API_SECRET,
        metavar="SECRET",
    ),
    Option(
        "--concurrency",
        f"uploads in flight at once (default {DEFAULT_CONCURRENCY})",
        _positive_int,
        DEFAULT_CONCURRENCY,
        metavar="N",
    ),
    Option(
        "--rate",
        "ceiling on upload requests per second (default: none, slow down on 429 only)",
        _positive_float,
        metavar="PER_SECOND",
    ),
    Option(
        "--licence-rate",
        "ceiling on licence-token requests per second",
        _positive_float,
        metavar="PER_SECOND",
    ),
    Option(
        "--state",
        "the journal (SQLite) of what was sent and the licence "
        f"tokens (default {default_state_path()})",
        metavar="FILE",
        is_path=True,
    ),
    Option(
        "--clients",
        "CSV or TOML file mapping uniqueClientId to accessLicenseId",
        metavar="FILE",
        is_path=True,
    ),
    Option(
        "--license-id", "accessLicenseId for clients not named elsewhere", metavar="ID"
    ),
    Option(
        "--client-id-from",
        "where each receipt's uniqueClientId comes from "
        "(default auto: layout, then manifest, then content)",
        _choice("auto", "layout", "manifest", "content"),
        "auto",
        argparse={"choices": ("auto", "layout", "manifest", "content")},
    ),
    Option(
        "--manifest",
        "CSV mapping files to uniqueClientId (and accessLicenseId)",
        metavar="FILE",
        is_path=True,
    ),
    Option(
        "--include",
        "send only files matching GLOB (repeatable)",
        _globs,
        (),
        metavar="GLOB",
        argparse={"action": "append"},
    ),
    Option(
        "--exclude",
        "skip files matching GLOB (repeatable)",
        _globs,
        (),
        metavar="GLOB",
        argparse={"action": "append"},
    ),
    Option(
        "--max-size",
        "largest receipt to send, e.g. 10MB (default "
        f"{DEFAULT_MAX_SIZE // 1024 // 1024}MB)",
        parse_size,
        DEFAULT_MAX_SIZE,
        metavar="SIZE",
    ),
    Option(
        "--report",
        "write the summary as JSON to FILE",
        metavar="FILE",
        is_path=True,
    ),
    Option(
        "--failures",
        "write one JSON line per receipt that did not arrive",
        metavar="FILE",
        is_path=True,
    ),
    Option(
        "--max-duration",
        "stop cleanly after this long, e.g. 6h (the next run continues)",
        parse_duration,
        metavar="DURATION",
    ),
    Option(
        "--shard",
        "this worker's share of the clients, I/N (e.g. 0/4)",
        _shard,
        metavar="I/N",
    ),
    Option(
        "--progress",
        "progress display (default auto: a bar on a terminal, lines otherwise)",
        _choice("auto", "bar", "lines", "none"),
        "auto",
        argparse={"choices": ("auto", "bar", "lines", "none")},
    ),
    Option(
        "--progress-interval",
        "seconds between status lines (default 10)",
        _positive_float,
        10.0,
        metavar="SECONDS",
    ),
)

_BY_KEY = {option.key: option for option in UPLOAD_OPTIONS}
_FILE_ONLY_KEYS = {"sources"}


def add_upload_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of ``upload``; unset flags stay out of the namespace."""
    parser.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="folders, .zip, .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="TOML file with any of these options (keys as flags, _ for -)",
    )
    for option in UPLOAD_OPTIONS:
        parser.add_argument(
            option.flag,
            dest=option.key,
            metavar=option.metavar,
            help=option.help,
            default=argparse.SUPPRESS,
            **option.argparse,
        )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        default=argparse.SUPPRESS,
        help="read everything, send nothing, print the plan",
    )
    parser.add_argument(
        "--retry-failed",
        nargs="?",
        const=True,
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="send permanent failures again: all of them, or those in a "
        "--failures FILE",
    )


def settings_from_arguments(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> UploadSettings:
    """Merge file, environment and flags into ``UploadSettings``, checking each."""
    environ = os.environ if environ is None else environ
    warn = warn or (lambda text: print(f"warning: {text}", file=sys.stderr))
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "func")}

    # Each value remembers where it came from, so an error names the place
    # the person has to fix: a flag, a key in the file, or a variable.
    raw: dict[str, Any] = {}
    origins: dict[str, str] = {}
    config_path = flags.pop("config", None)
    if config_path:
        from_file = _read_config_file(Path(config_path), warn)
        raw.update(from_file)
        origins.update({key: f"{key} in {config_path}" for key in from_file})
    for option in UPLOAD_OPTIONS:
        if option.env and environ.get(option.env):
            raw[option.key] = environ[option.env]
            origins[option.key] = f"${option.env}"
    if "api_secret" in flags:
        warn(
            "--api-secret leaves the secret in shell history and process "
            f"listings; prefer ${ENV_API_SECRET} or --api-secret-file."
        )
    for key, value in flags.items():
        if key == "sources" and not value:
            continue
        raw[key] = value
        origins[key] = _BY_KEY[key].flag if key in _BY_KEY else key

    values = _convert(raw, origins)
    return _build(values, raw, dry_run=bool(raw.get("dry_run")))


def _read_config_file(path: Path, warn: Callable[[str], None]) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"The config file {path} does not exist.") from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the config file {path}: {exc.strerror}."
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The config file {path} is not valid TOML: {exc}.") from exc

    allowed = set(_BY_KEY) | _FILE_ONLY_KEYS | {"dry_run", "retry_failed"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(
            f"The config file {path} has unknown keys: {', '.join(unknown)}. "
            f"Known keys: {', '.join(sorted(allowed))}."
        )
    if "api_secret" in data and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warn(
            f"{path} holds the API secret and can be read by other users; "
            f"restrict it with: chmod 600 {path}"
        )
    if "sources" in data:
        try:
            data["sources"] = _globs(data["sources"])
        except ValueError:
            raise ConfigError(
                f"sources in {path}: a path or a list of paths, like "
                '["/data/exports", "/data/day-01.zip"].'
            ) from None
    if "dry_run" in data and not isinstance(data["dry_run"], bool):
        raise ConfigError(
            f"dry_run in {path}: write true or false, not {data['dry_run']!r}."
        )
    if "retry_failed" in data and not isinstance(data["retry_failed"], bool | str):
        raise ConfigError(
            f"retry_failed in {path}: write true, false or the path of a "
            f"--failures file, not {data['retry_failed']!r}."
        )
    # Paths in the file mean what they say where the file lies, not where
    # the command happens to be run from (cron's working folder is /).
    path_keys = {o.key for o in UPLOAD_OPTIONS if o.is_path} | {"sources"}
    for key in path_keys & set(data):
        if isinstance(data[key], str):
            data[key] = str(path.parent / Path(data[key]).expanduser())
        elif isinstance(data[key], tuple):
            data[key] = tuple(
                str(path.parent / Path(s).expanduser()) for s in data[key]
            )
    return data


def _convert(raw: dict[str, Any], origins: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for option in UPLOAD_OPTIONS:
        value = raw.get(option.key)
        if value is None:
            values[option.key] = option.default
            continue
        if option.argparse.get("action") == "append" and isinstance(value, list):
            value = [item for item in value if item is not None]
        try:
            values[option.key] = option.convert(value)
        except ValueError as exc:
            where = origins.get(option.key, option.flag)
            raise ConfigError(f"{where}: {exc}.") from None
    return values


def _build(
    values: dict[str, Any], raw: dict[str, Any], *, dry_run: bool
) -> UploadSettings:
    retry_failed = raw.get("retry_failed", False)
    if retry_failed not in (True, False):
        retry_failed = Path(str(retry_failed))
        if retry_failed.is_dir() or retry_failed.suffix.lower() in _ARCHIVE_SUFFIXES:
            raise ConfigError(
                f"--retry-failed {retry_failed}: that is a source, not a file "
                "written by --failures. To retry every permanent failure, put "
                "--retry-failed after the sources (or write --retry-failed=FILE)."
            )
        if not retry_failed.is_file():
            raise ConfigError(f"--retry-failed: no file at {retry_failed}.")

    sources = tuple(str(s) for s in raw.get("sources") or ())
    if not sources:
        raise ConfigError(
            "Name at least one SOURCE: a folder or an archive of receipts."
        )

    secret = values["api_secret"]
    if values["api_secret_file"]:
        secret = _read_secret_file(Path(values["api_secret_file"]))
    if dry_run:
        # A dry run makes no network call, so it needs no credentials; these
        # stand-ins satisfy the settings and can never reach the wire.
        values["api_key"] = values["api_key"] or "dry-run"
        secret = secret or "dry-run"
    elif not values["api_key"] or not secret:
        missing = "key" if not values["api_key"] else "secret"
        raise ConfigError(
            f"No API {missing}. Set ${ENV_API_KEY} and ${ENV_API_SECRET} "
            "(or api_key / api_secret in --config, or --api-secret-file)."
        )

    cloud_extra: dict[str, Any] = {}
    if values["licence_rate"] is not None:
        cloud_extra["licence_rate"] = values["licence_rate"]
    cloud = CloudSettings(
        api_key=values["api_key"] or "",
        api_secret=secret or "",
        api_url=values["api_url"],
        functions_url=values["functions_url"],
        concurrency=values["concurrency"],
        rate=values["rate"],
        **cloud_extra,
    )
    return UploadSettings(
        sources=sources,
        cloud=cloud,
        source_options=SourceOptions(
            client_id_from=values["client_id_from"],
            manifest=values["manifest"],
            clients_file=values["clients"],
            license_id=values["license_id"],
            include=values["include"],
            exclude=values["exclude"],
            max_size=values["max_size"],
        ),
        state=Path(values["state"]) if values["state"] else default_state_path(),
        dry_run=dry_run,
        retry_failed=retry_failed,
        max_duration=values["max_duration"],
        report=Path(values["report"]) if values["report"] else None,
        failures=Path(values["failures"]) if values["failures"] else None,
        shard=values["shard"],
        progress=values["progress"],
        progress_interval=values["progress_interval"],
    )


def _read_secret_file(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(
            f"--api-secret-file: cannot read {path}: {exc.strerror}."
        ) from exc
    except UnicodeDecodeError:
        raise ConfigError(
            f"--api-secret-file: {path} is not UTF-8 text; it should hold the "
            "secret on its first line."
        ) from None
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise ConfigError(f"--api-secret-file: {path} is empty.")
    return secret
