"""Where a run stands: a bar on a terminal, plain lines in cron and CI logs."""

from __future__ import annotations

import logging
import sys
import time
from typing import Literal, Protocol, TextIO

from tqdm import tqdm

from bulk_uploader.report import RunCounters, format_bytes, format_duration

__all__ = [
    "DEFAULT_LINE_INTERVAL",
    "BarProgress",
    "LineProgress",
    "Progress",
    "ProgressMode",
    "SilentProgress",
    "make_progress",
]

DEFAULT_LINE_INTERVAL = 10.0
BAR_INTERVAL = 0.2

ProgressMode = Literal["auto", "bar", "lines", "none"]


class Progress(Protocol):
    """What the pipeline calls; the display decides what to show and when."""

    interval: float

    def update(self, counters: RunCounters, *, force: bool = False) -> None: ...

    def set_total(self, total: int) -> None:
        """How many items the run will see, once that is known (for an ETA)."""

    def write(self, text: str) -> None: ...

    def close(self) -> None: ...


def make_progress(
    mode: ProgressMode,
    *,
    total: int | None = None,
    interval: float = DEFAULT_LINE_INTERVAL,
    stream: TextIO | None = None,
) -> Progress:
    """The right display for ``mode``; ``auto`` picks a bar only on a terminal."""
    stream = stream or sys.stderr
    if mode == "auto":
        mode = "bar" if stream.isatty() else "lines"
    if mode == "bar":
        return BarProgress(total=total, stream=stream)
    if mode == "lines":
        return LineProgress(interval=interval, stream=stream)
    return SilentProgress()


def _counts(counters: RunCounters) -> str:
    if counters.planning:
        return f"read {counters.found:,} receipts · input problems {counters.failed:,}"
    text = (
        f"uploaded {counters.uploaded:,} · failed {counters.failed:,} · "
        f"skipped {counters.skipped:,}"
    )
    if counters.deferred:
        text += f" · deferred {counters.deferred:,}"
    return text


class BarProgress:
    """A tqdm bar; log records are routed through ``tqdm.write`` meanwhile."""

    interval = BAR_INTERVAL

    def __init__(self, *, total: int | None, stream: TextIO) -> None:
        self._bar = tqdm(
            total=total,
            unit=" receipts",
            file=stream,
            dynamic_ncols=True,
            smoothing=0.1,
            mininterval=BAR_INTERVAL,
        )
        self._done = 0
        self._handler = _TqdmLogHandler(stream)
        self._moved: list[tuple[logging.Handler, logging.Handler]] = []
        self._route_logging()

    def _route_logging(self) -> None:
        # A StreamHandler writing to the same terminal would tear the bar in
        # two; swap such handlers for one that prints above the bar.
        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler
            ):
                replacement = _TqdmLogHandler(self._handler.stream)
                replacement.setLevel(handler.level)
                replacement.setFormatter(handler.formatter)
                root.removeHandler(handler)
                root.addHandler(replacement)
                self._moved.append((handler, replacement))

    def update(self, counters: RunCounters, *, force: bool = False) -> None:
        done = counters.uploaded + counters.failed + counters.skipped
        if counters.planning:
            done = counters.found
        else:
            done += counters.deferred
        self._bar.update(done - self._done)
        self._done = done
        self._bar.set_postfix_str(_counts(counters), refresh=force)

    def set_total(self, total: int) -> None:
        self._bar.total = total
        self._bar.refresh()

    def write(self, text: str) -> None:
        self._bar.write(text, file=self._handler.stream)

    def close(self) -> None:
        self._bar.close()
        root = logging.getLogger()
        for original, replacement in self._moved:
            root.removeHandler(replacement)
            root.addHandler(original)
        self._moved.clear()


class _TqdmLogHandler(logging.StreamHandler[TextIO]):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # logging must never break the run
            self.handleError(record)


class LineProgress:
    """One plain status line every ``interval`` seconds, for logs."""

    def __init__(self, *, interval: float, stream: TextIO) -> None:
        self.interval = interval
        self._stream = stream
        self._started = time.monotonic()
        self._last = self._started
        self._last_done = 0
        self._total: int | None = None

    def set_total(self, total: int) -> None:
        self._total = total

    def update(self, counters: RunCounters, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        done = (
            counters.uploaded + counters.failed + counters.skipped + counters.deferred
        )
        rate = (done - self._last_done) / max(now - self._last, 1e-9)
        self._last, self._last_done = now, done
        self.write(
            f"[{format_duration(now - self._started)}]{self._share(done, now)} "
            f"{_counts(counters)} · {format_bytes(counters.bytes_uploaded)} · "
            f"{rate:,.1f}/s"
        )

    def _share(self, done: int, now: float) -> str:
        if not self._total or done > self._total:
            return ""
        text = f" {done / self._total:.0%} of {self._total:,} ·"
        elapsed = now - self._started
        if 0 < done < self._total and elapsed > 0:
            left = (self._total - done) * elapsed / done
            text += f" {format_duration(left)} left ·"
        return text

    def write(self, text: str) -> None:
        print(text, file=self._stream, flush=True)

    def close(self) -> None:
        pass


class SilentProgress:
    """No progress output at all (``--quiet``)."""

    interval = DEFAULT_LINE_INTERVAL

    def update(self, counters: RunCounters, *, force: bool = False) -> None:
        pass

    def set_total(self, total: int) -> None:
        pass

    def write(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass
