"""A local stand-in for the RetailForce cloud, with fault injection.

Tests, benchmarks and the demo point the client at ``Simulator.url`` (both
the API and the functions base URL) instead of the real cloud.
"""

from ._config import SimulatorConfig
from ._server import Simulator
from ._stats import ReceivedReceipt, SimulatorStats
from ._thread import SimulatorThread

__all__ = [
    "ReceivedReceipt",
    "Simulator",
    "SimulatorConfig",
    "SimulatorStats",
    "SimulatorThread",
]
