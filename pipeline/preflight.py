"""Pre-flight check: before the first call, make sure calls can succeed.

`GET /v1/Account` checks the credentials and the account's status, and
`GET /v1/Outbound/{id}` checks the outbound id. Both are cheap and place no
call, so a wrong secret or a suspended account stops the run before any lead
is touched.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pipeline.client import NLPearlClient
from pipeline.config import NLPearlSettings
from pipeline.errors import AccountNotReady, CallError
from pipeline.retry import with_retries

logger = logging.getLogger(__name__)

# Account statuses of NLPearl's Get Account API.
ACCOUNT_STATUSES = {
    1: "FullAccess",
    2: "LimitedAccess",
    3: "NoCredits",
    4: "SuspendedAccount",
    5: "DebtReached",
}
_CAN_CALL = {1, 2}


async def check_ready(client: NLPearlClient, settings: NLPearlSettings) -> None:
    """Raise a RunStopped error unless the account and outbound can take calls.

    Raises:
        CredentialsRejected: 401 or 403.
        OutboundNotFound: the outbound id is unknown.
        AccountNotReady: the account status forbids calls, or the API did not
            respond usefully within the retry bounds.
    """
    account = await _fetch(client.get_account, settings, "account check")
    _check_account(account)
    outbound = await _fetch(client.get_outbound, settings, "outbound check")

    logger.info(
        "pre-flight passed: account %r, status %s, credit balance %s; outbound %r",
        account.get("name"),
        ACCOUNT_STATUSES.get(account["status"], account["status"]),
        account.get("creditBalance"),
        outbound.get("name") or settings.outbound_id,
    )


async def _fetch(
    request: Callable[[], Awaitable[dict[str, Any]]],
    settings: NLPearlSettings,
    label: str,
) -> dict[str, Any]:
    try:
        return await with_retries(request, settings, f"pre-flight {label}")
    except CallError as error:
        raise AccountNotReady(
            f"the pre-flight {label} failed, so no call was placed: {error}"
        ) from error


def _check_account(account: dict[str, Any]) -> None:
    status = account.get("status")
    if status in _CAN_CALL:
        if status == 2:
            logger.warning("the NLPearl account has LimitedAccess")
        return

    name = (
        ACCOUNT_STATUSES.get(status, "unknown")
        if isinstance(status, int)
        else "unknown"
    )
    raise AccountNotReady(
        f"the NLPearl account status is {name} ({status}), so calls cannot "
        "succeed; no call was placed. Check the account's credits and standing "
        "on the NLPearl platform."
    )
