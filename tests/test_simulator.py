"""The simulator's three endpoints, its answers, its stats and its controls."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
from helpers import LICENCE_PATH, LOGON_PATH, UPLOAD_PATH

from bulk_uploader.clock import FakeClock
from bulk_uploader.simulator import Simulator, SimulatorConfig

CLIENT = "3f1c2a9e-0000-4000-8000-000000000001"
OTHER_CLIENT = "3f1c2a9e-0000-4000-8000-000000000002"
LICENCE_ID = "licence-1"

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def timed(clock: FakeClock) -> AsyncIterator[Simulator]:
    """A simulator whose token clock the test moves by hand."""
    async with Simulator(SimulatorConfig(), clock=clock) as sim:
        yield sim


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


async def bearer_token(session: aiohttp.ClientSession, sim: Simulator) -> str:
    form = {"key": "demo-key", "secret": "demo-secret"}
    async with session.post(sim.url + LOGON_PATH, data=form) as response:
        assert response.status == 200
        token: str = await response.json()
    return token


async def licence_token(
    session: aiohttp.ClientSession,
    sim: Simulator,
    client: str = CLIENT,
    licence: str = LICENCE_ID,
) -> str:
    bearer = await bearer_token(session, sim)
    params = {"uniqueClientId": client, "accessLicenseId": licence}
    headers = {"Authorization": f"Bearer {bearer}"}
    async with session.get(sim.url + LICENCE_PATH, params=params, headers=headers) as r:
        assert r.status == 200
        token: str = await r.json()
    return token


async def upload(
    session: aiohttp.ClientSession,
    sim: Simulator,
    token: str,
    *,
    client: str = CLIENT,
    name: str = "receipt.json",
    content: bytes = b'{"total": 1}',
    via: str = "form",
) -> tuple[int, str]:
    form = aiohttp.FormData()
    params = {}
    if via == "form":
        form.add_field("uniqueClientId", client)
        form.add_field("licenseToken", token)
    else:
        params = {"uniqueClientId": client, "licenseToken": token}
    form.add_field("file", content, filename=name)
    async with session.post(sim.url + UPLOAD_PATH, data=form, params=params) as r:
        return r.status, await r.text()


async def test_logon_answers_a_json_string_bearer_token(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Logon returns the bearer JWT as a quoted JSON string with a one-hour exp."""
    form = {"key": "demo-key", "secret": "demo-secret"}
    async with session.post(simulator.url + LOGON_PATH, data=form) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        body = await response.text()

    assert body.startswith('"eyJ')
    token = json.loads(body)
    got = claims(token)
    assert got["sub"] == "demo-key"
    assert got["exp"] - got["iat"] == 3600


@pytest.mark.parametrize(
    ("key", "secret"), [("demo-key", "wrong-secret"), ("no-such-key", "demo-secret")]
)
async def test_logon_refuses_wrong_credentials_with_401_and_a_reason(
    simulator: Simulator, session: aiohttp.ClientSession, key: str, secret: str
) -> None:
    """A wrong key or secret gets 401 and a reason that does not echo the secret."""
    form = {"key": key, "secret": secret}
    async with session.post(simulator.url + LOGON_PATH, data=form) as response:
        assert response.status == 401
        reason = await response.text()

    assert "secret" in reason
    assert secret not in reason
    assert simulator.stats().calls["logon"] == {401: 1}


@pytest.mark.parametrize("form", [{"key": "demo-key"}, {"secret": "demo-secret"}, {}])
async def test_logon_without_key_or_secret_is_a_400(
    simulator: Simulator, session: aiohttp.ClientSession, form: dict[str, str]
) -> None:
    """A logon form lacking a field is a bad request, not an authentication error."""
    async with session.post(simulator.url + LOGON_PATH, data=form) as response:
        assert response.status == 400
        assert "required" in await response.text()


async def test_bearer_token_can_come_without_exp(
    session: aiohttp.ClientSession,
) -> None:
    """With bearer_has_exp=False the bearer JWT carries no exp claim."""
    async with Simulator(SimulatorConfig(bearer_has_exp=False)) as sim:
        token = await bearer_token(session, sim)

    assert "exp" not in claims(token)


async def test_licence_token_carries_client_licence_and_thirty_days(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """The licence JWT names client and licence, has a jti and lives 30 days."""
    token = await licence_token(session, simulator)

    got = claims(token)
    assert got["uniqueClientId"] == CLIENT
    assert got["accessLicenseId"] == LICENCE_ID
    assert got["exp"] - got["iat"] == 30 * 86400
    assert got["jti"]
    assert simulator.stats().licence_calls == {CLIENT: 1}


async def test_licence_token_can_come_without_exp(
    session: aiohttp.ClientSession,
) -> None:
    """With licence_has_exp=False the licence JWT carries no exp claim."""
    async with Simulator(SimulatorConfig(licence_has_exp=False)) as sim:
        token = await licence_token(session, sim)

    assert "exp" not in claims(token)
    assert "iat" in claims(token)


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Basic abc", "Bearer not-a-jwt"]
)
async def test_licensing_without_a_valid_bearer_is_a_401(
    simulator: Simulator, session: aiohttp.ClientSession, authorization: str | None
) -> None:
    """No bearer token, another scheme or a garbled token all get 401."""
    headers = {} if authorization is None else {"Authorization": authorization}
    params = {"uniqueClientId": CLIENT, "accessLicenseId": LICENCE_ID}
    async with session.get(
        simulator.url + LICENCE_PATH, params=params, headers=headers
    ) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"

    assert simulator.stats().licence_calls == {CLIENT: 1}


async def test_a_licence_token_is_not_a_bearer_token(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """A licence token presented as bearer token is refused with 401."""
    token = await licence_token(session, simulator)
    params = {"uniqueClientId": CLIENT, "accessLicenseId": LICENCE_ID}
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(
        simulator.url + LICENCE_PATH, params=params, headers=headers
    ) as response:
        assert response.status == 401


async def test_an_expired_bearer_token_is_a_401(
    timed: Simulator, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    """Once its exp has passed the bearer token no longer opens licensing."""
    bearer = await bearer_token(session, timed)
    clock.advance(3600)
    params = {"uniqueClientId": CLIENT, "accessLicenseId": LICENCE_ID}
    headers = {"Authorization": f"Bearer {bearer}"}
    async with session.get(
        timed.url + LICENCE_PATH, params=params, headers=headers
    ) as r:
        assert r.status == 401
        assert "expired" in await r.text()


@pytest.mark.parametrize(
    "params", [{"uniqueClientId": CLIENT}, {"accessLicenseId": LICENCE_ID}, {}]
)
async def test_licensing_without_both_parameters_is_a_400(
    simulator: Simulator, session: aiohttp.ClientSession, params: dict[str, str]
) -> None:
    """Both uniqueClientId and accessLicenseId are required."""
    bearer = await bearer_token(session, simulator)
    headers = {"Authorization": f"Bearer {bearer}"}
    async with session.get(
        simulator.url + LICENCE_PATH, params=params, headers=headers
    ) as response:
        assert response.status == 400
        assert "required" in await response.text()


async def test_an_unknown_licence_pair_is_a_404(
    session: aiohttp.ClientSession,
) -> None:
    """With a licence list, only listed (client, licence) pairs get a token."""
    config = SimulatorConfig(licences={(CLIENT, LICENCE_ID)})
    async with Simulator(config) as sim:
        await licence_token(session, sim)
        bearer = await bearer_token(session, sim)
        headers = {"Authorization": f"Bearer {bearer}"}
        for client, licence in [(CLIENT, "other"), (OTHER_CLIENT, LICENCE_ID)]:
            params = {"uniqueClientId": client, "accessLicenseId": licence}
            async with session.get(
                sim.url + LICENCE_PATH, params=params, headers=headers
            ) as response:
                assert response.status == 404

        assert sim.stats().calls["licence"] == {200: 1, 404: 2}


@pytest.mark.parametrize(
    ("shape", "content_type", "decode"),
    [
        ("json", "application/json", json.loads),
        ("text", "text/plain", str),
        ("object", "application/json", lambda body: json.loads(body)["accessToken"]),
    ],
)
async def test_answer_shapes_apply_to_logon_and_licensing(
    session: aiohttp.ClientSession,
    shape: Any,
    content_type: str,
    decode: Any,
) -> None:
    """Token answers come as JSON string, bare text or an object, as configured."""
    config = SimulatorConfig(answer_shape=shape, object_key="accessToken")
    async with Simulator(config) as sim:
        form = {"key": "demo-key", "secret": "demo-secret"}
        async with session.post(sim.url + LOGON_PATH, data=form) as response:
            assert response.content_type == content_type
            bearer = decode(await response.text())
        params = {"uniqueClientId": CLIENT, "accessLicenseId": LICENCE_ID}
        headers = {"Authorization": f"Bearer {bearer}"}
        async with session.get(
            sim.url + LICENCE_PATH, params=params, headers=headers
        ) as response:
            assert response.status == 200
            assert response.content_type == content_type
            licence = decode(await response.text())

    assert claims(bearer)["sub"] == "demo-key"
    assert claims(licence)["uniqueClientId"] == CLIENT


@pytest.mark.parametrize("via", ["form", "query"])
async def test_upload_is_accepted_with_parameters_in_form_or_query(
    simulator: Simulator, session: aiohttp.ClientSession, via: str
) -> None:
    """digitalReceipt accepts its parameters either way and records which."""
    token = await licence_token(session, simulator)
    content = b"<receipt total='9.99'/>"

    status, _ = await upload(
        session, simulator, token, name="r1.xml", content=content, via=via
    )

    assert status == 200
    [receipt] = simulator.received()
    assert receipt.client_id == CLIENT
    assert receipt.name == "r1.xml"
    assert receipt.size == len(content)
    assert receipt.sha256 == hashlib.sha256(content).hexdigest()
    assert receipt.via == via
    stats = simulator.stats()
    assert stats.receipts == {CLIENT: 1}
    assert stats.bytes_received == len(content)


async def test_form_parameters_win_over_query_parameters(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """When both carry a licence token, the form field is the one checked."""
    token = await licence_token(session, simulator)
    form = aiohttp.FormData()
    form.add_field("uniqueClientId", CLIENT)
    form.add_field("licenseToken", token)
    form.add_field("file", b"x", filename="x.json")
    params = {"uniqueClientId": OTHER_CLIENT, "licenseToken": "garbage"}

    async with session.post(simulator.url + UPLOAD_PATH, data=form, params=params) as r:
        assert r.status == 200

    assert simulator.received()[0].via == "form"


@pytest.mark.parametrize(
    ("token", "client", "status"),
    [
        ("not-a-token", CLIENT, 401),
        ("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl", CLIENT, 401),
        (None, OTHER_CLIENT, 403),
    ],
)
async def test_upload_refuses_bad_or_foreign_licence_tokens(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    token: str | None,
    client: str,
    status: int,
) -> None:
    """Garbled or foreign-signed tokens get 401; another client's token 403."""
    real = await licence_token(session, simulator)

    got, reason = await upload(session, simulator, token or real, client=client)

    assert got == status
    assert reason
    assert real not in reason
    assert simulator.received() == []


async def test_upload_refuses_a_bearer_token_as_licence_token(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Only licence tokens open digitalReceipt."""
    bearer = await bearer_token(session, simulator)

    status, _ = await upload(session, simulator, bearer)

    assert status == 401


async def test_an_expired_licence_token_is_a_401(
    timed: Simulator, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    """After 30 days the licence token no longer opens digitalReceipt."""
    token = await licence_token(session, timed)
    assert (await upload(session, timed, token))[0] == 200

    clock.advance(30 * 86400)
    status, reason = await upload(session, timed, token)

    assert status == 401
    assert "expired" in reason
    assert len(timed.received()) == 1


async def test_revoke_one_client_leaves_the_others_alone(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """revoke(client) refuses that client's tokens with 403, others still work."""
    mine = await licence_token(session, simulator, CLIENT)
    theirs = await licence_token(session, simulator, OTHER_CLIENT)

    simulator.revoke(CLIENT)

    assert (await upload(session, simulator, mine))[0] == 403
    assert (await upload(session, simulator, theirs, client=OTHER_CLIENT))[0] == 200
    fresh = await licence_token(session, simulator, CLIENT)
    assert (await upload(session, simulator, fresh))[0] == 200


async def test_revoke_all_refuses_every_token_issued_so_far(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """revoke() without a client revokes every licence token already issued."""
    mine = await licence_token(session, simulator, CLIENT)
    theirs = await licence_token(session, simulator, OTHER_CLIENT)

    simulator.revoke()

    assert (await upload(session, simulator, mine))[0] == 403
    assert (await upload(session, simulator, theirs, client=OTHER_CLIENT))[0] == 403


async def test_duplicates_count_same_client_name_and_content(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """A re-sent receipt is accepted but counted; changed content is not a repeat."""
    token = await licence_token(session, simulator)
    other = await licence_token(session, simulator, OTHER_CLIENT)

    for content in (b"a", b"a", b"b"):
        assert (await upload(session, simulator, token, content=content))[0] == 200
    assert (await upload(session, simulator, other, client=OTHER_CLIENT))[0] == 200

    stats = simulator.stats()
    assert stats.duplicates == 1
    assert stats.receipts == {CLIENT: 3, OTHER_CLIENT: 1}
    assert len(simulator.received()) == 4


async def test_stats_count_every_call_by_endpoint_and_status(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """stats() and GET /_simulator/stats agree on the calls and their answers."""
    token = await licence_token(session, simulator)
    await upload(session, simulator, token)
    await upload(session, simulator, "bad")

    stats = simulator.stats()
    assert stats.calls == {
        "logon": {200: 1},
        "licence": {200: 1},
        "upload": {200: 1, 401: 1},
    }
    assert stats.total("upload") == 2
    assert stats.total("upload", 401) == 1
    assert stats.total("nothing") == 0
    async with session.get(simulator.url + "/_simulator/stats") as response:
        page = await response.json()
    assert page == json.loads(json.dumps(stats.to_dict()))
    assert page["calls"]["upload"] == {"200": 1, "401": 1}
    assert page["accepted"] == 1


async def test_stats_are_a_snapshot(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """A stats object taken earlier does not change as calls go on."""
    before = simulator.stats()

    await bearer_token(session, simulator)

    assert before.total("logon") == 0
    assert simulator.stats().total("logon") == 1


@pytest.mark.parametrize("how", ["method", "http"])
async def test_reset_clears_stats_and_receipts_but_keeps_tokens(
    simulator: Simulator, session: aiohttp.ClientSession, how: str
) -> None:
    """reset() or POST /_simulator/reset empties the counters; tokens stay valid."""
    token = await licence_token(session, simulator)
    await upload(session, simulator, token)

    if how == "method":
        simulator.reset()
    else:
        async with session.post(simulator.url + "/_simulator/reset") as response:
            assert response.status == 200

    assert simulator.stats().to_dict()["calls"] == {
        "licence": {},
        "logon": {},
        "upload": {},
    }
    assert simulator.received() == []
    assert (await upload(session, simulator, token))[0] == 200
    assert simulator.stats().duplicates == 0


async def test_config_changes_apply_to_the_next_request(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Knobs are read per request, so a test can flip them while it runs."""
    simulator.config.credentials = {"new-key": "new-secret"}

    async with session.post(
        simulator.url + LOGON_PATH, data={"key": "demo-key", "secret": "demo-secret"}
    ) as response:
        assert response.status == 401
    async with session.post(
        simulator.url + LOGON_PATH, data={"key": "new-key", "secret": "new-secret"}
    ) as response:
        assert response.status == 200


async def test_reprs_hide_secrets() -> None:
    """The simulator's and config's reprs name keys but never secrets."""
    config = SimulatorConfig(credentials={"k1": "s3cr3t-value"})
    async with Simulator(config) as sim:
        text = repr(sim) + repr(sim.config)

    assert "k1" in text
    assert "s3cr3t-value" not in text
