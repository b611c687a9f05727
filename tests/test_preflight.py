"""Tests of the pre-flight check against a scripted API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import stamina

from pipeline.client import NLPearlClient
from pipeline.config import NLPearlSettings
from pipeline.errors import AccountNotReady, CredentialsRejected, OutboundNotFound
from pipeline.preflight import check_ready

OUTBOUND = "6650f0c2a1b2c3d4e5f60718"
ACCOUNT = {"name": "Acme", "totalAgents": 3, "creditBalance": 12.5, "status": 1}


@pytest.fixture(autouse=True)
def instant_retries() -> Iterator[None]:
    """Skip backoff waits but keep each test's configured attempt count."""
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield


def check(responses: dict[str, list[httpx.Response | type[Exception]]]) -> list[str]:
    """Run the pre-flight check against scripted responses; return the paths hit."""
    hits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(request.url.path)
        step = responses[request.url.path].pop(0)
        if isinstance(step, type):
            raise step("scripted", request=request)  # type: ignore[call-arg]
        return step

    async def go() -> None:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(handler), base_url="http://127.0.0.1"
        ) as http:
            client = NLPearlClient(http, OUTBOUND, timeout_seconds=1.0)
            settings = NLPearlSettings(
                outbound_id=OUTBOUND, sandbox=True, max_attempts=3
            )
            await check_ready(client, settings)

    asyncio.run(go())

    return hits


def ok(body: dict[str, object]) -> httpx.Response:
    """Return a 200 response with a JSON body."""
    return httpx.Response(200, json=body)


OUTBOUND_PATH = f"/v1/Outbound/{OUTBOUND}"


def test_ready_account_passes() -> None:
    """A FullAccess account and a known outbound pass, one request each."""
    hits = check({"/v1/Account": [ok(ACCOUNT)], OUTBOUND_PATH: [ok({"id": OUTBOUND})]})

    assert hits == ["/v1/Account", OUTBOUND_PATH]


@pytest.mark.parametrize(
    ("status", "name"), [(3, "NoCredits"), (4, "SuspendedAccount"), (5, "DebtReached")]
)
def test_account_status_stops(status: int, name: str) -> None:
    """An account that cannot call stops the run, naming its status."""
    account = {**ACCOUNT, "status": status}

    with pytest.raises(AccountNotReady, match=f"status is {name} \\({status}\\)"):
        check({"/v1/Account": [ok(account)]})


def test_wrong_secret_stops() -> None:
    """A 401 on the account check raises CredentialsRejected."""
    with pytest.raises(CredentialsRejected):
        check({"/v1/Account": [httpx.Response(401, text="Unauthorized")]})


def test_unknown_outbound_stops() -> None:
    """A 404 on the outbound check raises OutboundNotFound."""
    with pytest.raises(OutboundNotFound, match=OUTBOUND):
        check(
            {
                "/v1/Account": [ok(ACCOUNT)],
                OUTBOUND_PATH: [httpx.Response(404, text="")],
            }
        )


def test_server_error_retried() -> None:
    """A 503 on the account check is retried and then passes."""
    hits = check(
        {
            "/v1/Account": [httpx.Response(503), ok(ACCOUNT)],
            OUTBOUND_PATH: [ok({"id": OUTBOUND})],
        }
    )

    assert hits.count("/v1/Account") == 2


def test_read_timeout_retried() -> None:
    """A GET that timed out is safe to retry, unlike a Make Call."""
    hits = check(
        {
            "/v1/Account": [httpx.ReadTimeout, ok(ACCOUNT)],
            OUTBOUND_PATH: [ok({"id": OUTBOUND})],
        }
    )

    assert hits.count("/v1/Account") == 2


def test_unreachable_api_stops() -> None:
    """An API that never responds stops the run after the bounded retries."""
    with pytest.raises(AccountNotReady, match="pre-flight account check failed"):
        check({"/v1/Account": [httpx.ConnectError] * 3})


def test_non_json_account_stops() -> None:
    """An account response that is not JSON stops the run with its excerpt."""
    with pytest.raises(AccountNotReady, match="not a JSON object: <html>"):
        check({"/v1/Account": [httpx.Response(200, text="<html>")]})
