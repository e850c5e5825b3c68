"""The ``bulk-uploader`` command: options in, settings out, errors to exit codes.

This module turns words into settings and exit codes; it does no work of
its own. ``main`` is the only place where an error becomes an exit code and
a message for a person.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import anyio

from bulk_uploader import __version__
from bulk_uploader.config import (
    ENV_API_SECRET,
    add_upload_arguments,
    settings_from_arguments,
)
from bulk_uploader.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    BulkUploaderError,
)
from bulk_uploader.journal import Journal, default_state_path
from bulk_uploader.logs import RedactingFilter, setup_logging
from bulk_uploader.report import format_bytes

__all__ = ["main"]

EXIT_CODES_HELP = """\
exit codes:
  0    everything was uploaded or skipped
  1    some receipts failed (see the summary and --failures)
  2    usage or configuration error (options, files, state file in use)
  3    authentication failed (API key or secret refused)
  4    licence endpoint blocked us; some clients were deferred to the next run
  5    stopped by --max-duration; the next run continues
  6    the cloud could not be reached, or kept failing; the next run continues
  130  interrupted (Ctrl-C or SIGTERM); the next run continues
"""


class _Parser(argparse.ArgumentParser):
    """argparse that exits with our usage code and a hint instead of 2's wall."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"error: {message}\n(see: {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bulk-uploader",
        description="Send digital receipts in bulk to the RetailForce cloud.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    common = _Parser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more (-v: each retry and licence call, -vv: debug)",
    )
    common.add_argument(
        "-q", "--quiet", action="store_true", help="only errors and the summary"
    )
    common.add_argument("--log-file", metavar="FILE", help="append a full log to FILE")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    upload = commands.add_parser(
        "upload",
        parents=[common],
        help="upload the receipts of folders and archives",
        description="Upload every receipt of the SOURCEs, skipping what the journal "
        "says is already in the cloud.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_upload_arguments(upload)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="run a whole upload against the built-in simulator",
        description="Start the simulator on a free loopback port, write sample "
        "receipts, upload them twice (the second run sends nothing) and check "
        "what the simulator received.",
    )
    demo.add_argument(
        "--receipts",
        type=int,
        default=600,
        metavar="N",
        help="how many sample receipts to write (default 600)",
    )
    demo.add_argument(
        "--clients",
        type=int,
        default=8,
        metavar="N",
        help="how many POS clients (default 8)",
    )
    demo.add_argument(
        "--dir", metavar="DIR", help="write the samples and state here and keep them"
    )

    simulate = commands.add_parser(
        "simulate",
        parents=[common],
        help="run the RetailForce cloud simulator",
        description="Serve the RetailForce API and functions paths locally, "
        "with fault injection, until Ctrl-C.",
    )
    from bulk_uploader.simulator._cli import add_simulator_arguments

    add_simulator_arguments(simulate)

    for name, text in (
        ("status", "totals per outcome and per client from the journal"),
        ("tokens", "each client's licence-token expiry (never the token)"),
    ):
        command = commands.add_parser(
            name, parents=[common], help=text, description=text
        )
        command.add_argument(
            "--state",
            metavar="FILE",
            help=f"the journal (default {default_state_path()})",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    verbosity = -1 if args.quiet else args.verbose
    secrets = [os.environ.get(ENV_API_SECRET, "")]
    try:
        redactor = setup_logging(
            verbosity=verbosity, log_file=args.log_file, secrets=secrets
        )
        if args.command == "upload":
            return _upload(args, redactor)
        if args.command == "demo":
            from bulk_uploader.demo import run_demo

            return anyio.run(
                run_demo, args.receipts, args.clients, args.dir, args.quiet
            )
        if args.command == "simulate":
            return _simulate(args)
        if args.command == "status":
            return _status(args)
        return _tokens(args)
    except BulkUploaderError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (| head); say nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _upload(args: argparse.Namespace, redactor: RedactingFilter) -> int:
    from bulk_uploader.pipeline import run_upload

    if args.quiet:
        args.progress = "none"
    settings = settings_from_arguments(args)
    # The secret may come from a file or the config, not only the environment.
    redactor.add_secrets([settings.cloud.api_secret, settings.cloud.api_key])
    summary = anyio.run(run_upload, settings)
    print(summary.render())
    return summary.exit_code


def _simulate(args: argparse.Namespace) -> int:
    from bulk_uploader.simulator._cli import config_from_arguments, serve

    config = config_from_arguments(args)

    def ready(url: str) -> None:
        print(f"Simulator listening on {url} (API and functions host); Ctrl-C stops.")
        credentials = ", ".join(f"key {key!r}" for key in config.credentials)
        print(f"Accepted credentials: {credentials} (secrets as configured).")
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(lambda: serve(config, args.host, args.port, ready=ready))
    return EXIT_OK


def _open_journal(args: argparse.Namespace) -> Journal:
    return Journal(
        Path(args.state) if args.state else default_state_path(), read_only=True
    )


def _status(args: argparse.Namespace) -> int:
    with _open_journal(args) as journal:
        totals = journal.totals_per_client()
        runs = journal.last_runs()
    print(
        f"{'uniqueClientId':<38} {'uploaded':>10} {'failed':>8} {'deferred':>9}  bytes"
    )
    for row in totals:
        print(
            f"{row.client_id:<38} {row.uploaded:>10,} {row.failed:>8,} "
            f"{row.deferred:>9,}  {format_bytes(row.bytes_uploaded)}"
        )
    print(
        f"{_plural(len(totals), 'client', 'all'):<38} "
        f"{sum(r.uploaded for r in totals):>10,} {sum(r.failed for r in totals):>8,} "
        f"{sum(r.deferred for r in totals):>9,}  "
        f"{format_bytes(sum(r.bytes_uploaded for r in totals))}"
    )
    for run_id, started, finished, outcome, exit_code in runs:
        took = f"{finished - started:,.0f} s" if finished else "-"
        code = f", exit {exit_code}" if exit_code is not None else ""
        print(f"run {run_id}: {_when(started)}, {outcome}{code}, {took}")
    return EXIT_OK


def _tokens(args: argparse.Namespace) -> int:
    now = time.time()
    with _open_journal(args) as journal:
        tokens = journal.licence_tokens()
    if not tokens:
        print("No licence tokens stored yet.")
        return EXIT_OK
    print(f"{'uniqueClientId':<38} {'accessLicenseId':<38} {'expires':<17} left")
    for client_id, license_id, expires_at, _fetched_at in tokens:
        left = (expires_at - now) / 86400
        state = f"{left:,.1f} days" if left > 0 else "expired"
        print(f"{client_id:<38} {license_id:<38} {_when(expires_at):<17} {state}")
    return EXIT_OK


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _plural(count: int, noun: str, prefix: str) -> str:
    return f"{prefix} {count:,} {noun}" + ("" if count == 1 else "s")
