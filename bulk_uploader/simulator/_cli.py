"""What ``bulk-uploader simulate`` needs: its options, and serving until stopped."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import anyio

from ._config import (
    DEFAULT_BLOCK_DURATION,
    DEFAULT_LICENCE_LIMIT,
    DEFAULT_LICENCE_WINDOW,
    SimulatorConfig,
)
from ._server import Simulator

__all__ = ["add_simulator_arguments", "config_from_arguments", "serve"]

DEFAULT_PORT = 8080


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _credential(text: str) -> tuple[str, str]:
    key, sep, secret = text.partition(":")
    if not sep or not key or not secret:
        # Never echo the argument: it holds a secret.
        raise argparse.ArgumentTypeError("expected KEY:SECRET")
    return key, secret


def add_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser`` (``bulk-uploader simulate``)."""
    net = parser.add_argument_group("listening")
    net.add_argument("--host", default="127.0.0.1", help="address to bind")
    net.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (0: any free port)"
    )

    auth = parser.add_argument_group("credentials and licence tokens")
    auth.add_argument(
        "--credentials",
        metavar="KEY:SECRET",
        type=_credential,
        action="append",
        help="an accepted API key and secret; repeatable (default demo-key)",
    )
    auth.add_argument(
        "--answer-shape",
        choices=("json", "text", "object"),
        default="json",
        help='token answers as a JSON string, bare text, or {"token": ...}',
    )
    auth.add_argument(
        "--licence-limit",
        type=int,
        default=DEFAULT_LICENCE_LIMIT,
        help="licence-token calls allowed per caller and window",
    )
    auth.add_argument(
        "--licence-window",
        type=_non_negative,
        default=DEFAULT_LICENCE_WINDOW,
        help="the window of --licence-limit, in seconds",
    )
    auth.add_argument(
        "--block-duration",
        type=_non_negative,
        default=DEFAULT_BLOCK_DURATION,
        help="how long a caller over the limit stays blocked, in seconds",
    )
    auth.add_argument(
        "--block-status",
        type=int,
        choices=(429, 403),
        default=429,
        help="the answer to a blocked caller",
    )
    auth.add_argument(
        "--revoke-after-uploads",
        type=int,
        metavar="N",
        help="revoke every licence token once, after N accepted uploads",
    )

    faults = parser.add_argument_group("upload faults")
    faults.add_argument(
        "--latency", type=_non_negative, default=0.0, help="seconds per upload"
    )
    faults.add_argument(
        "--latency-jitter",
        type=_non_negative,
        default=0.0,
        help="plus up to this many random seconds",
    )
    faults.add_argument(
        "--rate-limit",
        type=float,
        metavar="PER_SECOND",
        help="uploads per second before 429",
    )
    faults.add_argument(
        "--retry-after-format",
        choices=("seconds", "date"),
        default="seconds",
        help="how 429 answers to uploads say when to come back",
    )
    faults.add_argument(
        "--fault-rate",
        type=_share,
        default=0.0,
        help="share of uploads answered 500, 502, 503 or 504",
    )
    faults.add_argument(
        "--drop-rate",
        type=_share,
        default=0.0,
        help="share of uploads whose connection is dropped without an answer",
    )
    faults.add_argument(
        "--max-body-size",
        type=int,
        metavar="BYTES",
        help="files larger than this are answered 413",
    )
    faults.add_argument(
        "--seed", type=int, help="seed for reproducible faults and jitter"
    )


def config_from_arguments(args: argparse.Namespace) -> SimulatorConfig:
    """The ``SimulatorConfig`` that the parsed options describe."""
    config = SimulatorConfig(
        answer_shape=args.answer_shape,
        licence_limit=args.licence_limit,
        licence_window=args.licence_window,
        block_duration=args.block_duration,
        block_status=args.block_status,
        latency=args.latency,
        latency_jitter=args.latency_jitter,
        upload_rate_limit=args.rate_limit,
        retry_after_format=args.retry_after_format,
        fault_rate=args.fault_rate,
        drop_rate=args.drop_rate,
        max_body_size=args.max_body_size,
        revoke_after_uploads=args.revoke_after_uploads,
        seed=args.seed,
    )
    if args.credentials:
        config.credentials = dict(args.credentials)

    return config


async def serve(
    config: SimulatorConfig,
    host: str,
    port: int,
    *,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run a simulator until cancelled; ``ready(url)`` once it listens."""
    async with Simulator(config, host=host, port=port) as simulator:
        if ready is not None:
            ready(simulator.url)
        await anyio.sleep_forever()
