"""The knobs of the simulator: credentials, token lifetimes, blocking, faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFAULT_BEARER_LIFETIME",
    "DEFAULT_BLOCK_DURATION",
    "DEFAULT_CREDENTIALS",
    "DEFAULT_LICENCE_LIFETIME",
    "DEFAULT_LICENCE_LIMIT",
    "DEFAULT_LICENCE_WINDOW",
    "AnswerShape",
    "RetryAfterFormat",
    "SimulatorConfig",
]

AnswerShape = Literal["json", "text", "object"]
RetryAfterFormat = Literal["seconds", "date"]

DEFAULT_CREDENTIALS = {"demo-key": "demo-secret"}
DEFAULT_BEARER_LIFETIME = 3600.0
DEFAULT_LICENCE_LIFETIME = 30 * 86400.0
DEFAULT_LICENCE_LIMIT = 100
DEFAULT_LICENCE_WINDOW = 60.0
DEFAULT_BLOCK_DURATION = 300.0
DEFAULT_FAULT_STATUSES = (500, 502, 503, 504)


def _default_credentials() -> dict[str, str]:
    return dict(DEFAULT_CREDENTIALS)


@dataclass(kw_only=True)
class SimulatorConfig:
    """How the simulated cloud behaves; fields may be changed while it runs.

    Every field is read when a request arrives, so a test can flip a knob
    (say ``fault_rate``) between two requests without restarting anything.
    """

    credentials: dict[str, str] = field(default_factory=_default_credentials)
    licences: set[tuple[str, str]] | None = None
    bearer_lifetime: float = DEFAULT_BEARER_LIFETIME
    bearer_has_exp: bool = True
    licence_lifetime: float = DEFAULT_LICENCE_LIFETIME
    licence_has_exp: bool = True
    answer_shape: AnswerShape = "json"
    object_key: str = "token"
    licence_limit: int = DEFAULT_LICENCE_LIMIT
    licence_window: float = DEFAULT_LICENCE_WINDOW
    block_duration: float = DEFAULT_BLOCK_DURATION
    block_status: Literal[429, 403] = 429
    latency: float = 0.0
    latency_jitter: float = 0.0
    upload_rate_limit: float | None = None
    retry_after_format: RetryAfterFormat = "seconds"
    fault_rate: float = 0.0
    fault_statuses: tuple[int, ...] = DEFAULT_FAULT_STATUSES
    drop_rate: float = 0.0
    max_body_size: int | None = None
    revoke_after_uploads: int | None = None
    seed: int | None = None

    def __repr__(self) -> str:
        # The secrets are demo values, but a repr is what ends up in logs.
        keys = ", ".join(sorted(self.credentials))
        return (
            f"SimulatorConfig(keys=[{keys}], licences="
            f"{'any' if self.licences is None else len(self.licences)}, "
            f"licence_limit={self.licence_limit}/{self.licence_window}s, "
            f"block={self.block_status} for {self.block_duration}s, "
            f"latency={self.latency}+{self.latency_jitter}, "
            f"upload_rate_limit={self.upload_rate_limit}, "
            f"fault_rate={self.fault_rate}, drop_rate={self.drop_rate}, "
            f"max_body_size={self.max_body_size}, "
            f"revoke_after_uploads={self.revoke_after_uploads}, seed={self.seed})"
        )
