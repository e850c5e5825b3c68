"""The simulator from synchronous code (SimulatorThread) and from the CLI helpers."""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import urllib.parse
from functools import partial

import aiohttp
import anyio
import pytest
from helpers import LICENCE_PATH, LOGON_PATH, UPLOAD_PATH

from bulk_uploader.simulator import SimulatorConfig, SimulatorThread
from bulk_uploader.simulator._cli import (
    add_simulator_arguments,
    config_from_arguments,
    serve,
)

CLIENT = "3f1c2a9e-0000-4000-8000-000000000001"
BOUNDARY = "thread-test-boundary"


def call(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One blocking HTTP exchange with the simulator at ``base``."""
    address = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(
        address.hostname or "", address.port, timeout=10
    )
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def licence_token(base: str) -> str:
    form = urllib.parse.urlencode({"key": "demo-key", "secret": "demo-secret"})
    status, body = call(
        base,
        "POST",
        LOGON_PATH,
        form.encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200
    query = urllib.parse.urlencode(
        {"uniqueClientId": CLIENT, "accessLicenseId": "licence-1"}
    )
    headers = {"Authorization": f"Bearer {json.loads(body)}"}
    status, body = call(base, "GET", f"{LICENCE_PATH}?{query}", headers=headers)
    assert status == 200
    token: str = json.loads(body)
    return token


def upload(base: str, token: str, name: str = "r.json") -> int:
    lines = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="uniqueClientId"'
        f"\r\n\r\n{CLIENT}\r\n",
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="licenseToken"'
        f"\r\n\r\n{token}\r\n",
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{name}"\r\n\r\n{{}}\r\n',
        f"--{BOUNDARY}--\r\n",
    ]
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return call(base, "POST", UPLOAD_PATH, "".join(lines).encode(), headers)[0]


def test_simulator_thread_serves_synchronous_callers() -> None:
    """SimulatorThread answers plain blocking HTTP and reports what it received."""
    with SimulatorThread() as sim:
        assert sim.url.startswith("http://127.0.0.1:")
        token = licence_token(sim.url)

        assert upload(sim.url, token) == 200
        [receipt] = sim.received()
        assert receipt.client_id == CLIENT
        assert receipt.name == "r.json"
        assert sim.stats().calls == {
            "logon": {200: 1},
            "licence": {200: 1},
            "upload": {200: 1},
        }


def test_simulator_thread_reset_revoke_and_config_are_live() -> None:
    """reset(), revoke() and config changes reach the simulator's own thread."""
    with SimulatorThread(SimulatorConfig()) as sim:
        token = licence_token(sim.url)
        assert upload(sim.url, token) == 200

        sim.reset()
        assert sim.received() == []
        assert sim.stats().total("upload") == 0

        sim.revoke(CLIENT)
        assert upload(sim.url, token) == 403

        sim.config.fault_rate = 1.0
        sim.config.fault_statuses = (502,)
        assert upload(sim.url, licence_token(sim.url)) == 502


def test_simulator_thread_is_safe_from_many_threads() -> None:
    """Concurrent callers on several threads are all counted exactly once."""
    with SimulatorThread() as sim:
        token = licence_token(sim.url)
        statuses: list[int] = []

        def worker(n: int) -> None:
            for i in range(10):
                statuses.append(upload(sim.url, token, f"{n}-{i}.json"))
                sim.stats()

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert statuses == [200] * 40
        assert sim.stats().receipts == {CLIENT: 40}
        assert len({r.name for r in sim.received()}) == 40


def test_simulator_thread_stops_on_exit() -> None:
    """After the with block the port no longer answers."""
    with SimulatorThread() as sim:
        url = sim.url

    with pytest.raises(ConnectionRefusedError):
        call(url, "GET", "/_simulator/stats")


def test_simulator_thread_reports_a_port_in_use() -> None:
    """Starting on a taken port raises in the caller instead of hanging."""
    with SimulatorThread() as first:
        port = int(first.url.rsplit(":", 1)[1])
        with pytest.raises(OSError, match="in use"), SimulatorThread(port=port):
            pass


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_simulator_arguments(parser)
    return parser.parse_args(argv)


def test_cli_defaults_match_the_config_defaults() -> None:
    """With no options the CLI builds the default SimulatorConfig."""
    args = parse()

    assert (args.host, args.port) == ("127.0.0.1", 8080)
    assert config_from_arguments(args) == SimulatorConfig()


def test_cli_options_reach_every_config_field() -> None:
    """Each simulator option sets its SimulatorConfig field."""
    args = parse(
        "--host", "::1", "--port", "0",
        "--latency", "0.5", "--latency-jitter", "0.1",
        "--rate-limit", "200", "--retry-after-format", "date",
        "--fault-rate", "0.1", "--drop-rate", "0.05",
        "--max-body-size", "1000",
        "--licence-limit", "5", "--licence-window", "10",
        "--block-duration", "30", "--block-status", "403",
        "--answer-shape", "object", "--revoke-after-uploads", "50",
        "--credentials", "k1:s1", "--credentials", "k2:s:2",
        "--seed", "42",
    )  # fmt: skip

    config = config_from_arguments(args)

    assert (args.host, args.port) == ("::1", 0)
    assert config == SimulatorConfig(
        credentials={"k1": "s1", "k2": "s:2"},
        latency=0.5,
        latency_jitter=0.1,
        upload_rate_limit=200.0,
        retry_after_format="date",
        fault_rate=0.1,
        drop_rate=0.05,
        max_body_size=1000,
        licence_limit=5,
        licence_window=10.0,
        block_duration=30.0,
        block_status=403,
        answer_shape="object",
        revoke_after_uploads=50,
        seed=42,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--fault-rate", "1.5"],
        ["--drop-rate", "-0.1"],
        ["--latency", "-1"],
        ["--block-status", "500"],
        ["--credentials", "no-colon-here"],
    ],
)
def test_cli_refuses_impossible_values(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Out-of-range shares, negative times and bad credentials are usage errors."""
    with pytest.raises(SystemExit) as exit_info:
        parse(*argv)

    assert exit_info.value.code == 2
    assert "no-colon-here" not in capsys.readouterr().err


@pytest.mark.anyio
async def test_serve_announces_its_url_and_runs_until_cancelled() -> None:
    """serve() calls ready(url) once listening and stops when cancelled."""
    urls: list[str] = []
    listening = anyio.Event()

    def ready(url: str) -> None:
        urls.append(url)
        listening.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(partial(serve, SimulatorConfig(), "127.0.0.1", 0, ready=ready))
        await listening.wait()
        form = {"key": "demo-key", "secret": "demo-secret"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(urls[0] + LOGON_PATH, data=form) as response,
        ):
            assert response.status == 200
        tasks.cancel_scope.cancel()

    assert len(urls) == 1
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.post(urls[0] + LOGON_PATH, data=form)
