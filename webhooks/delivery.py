"""The HTTP transport of deliveries: callback URLs vetted like image URLs (core.outgoing) and one
signed POST to the first vetted address that answers, the body never read."""

from __future__ import annotations

import httpx
from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import InvalidRequest
from core.outgoing import (
    Deadline,
    IPAddress,
    UrlRefused,
    outgoing_url_addresses,
    outgoing_url_parse,
    pinned_client,
)

USER_AGENT = "NanoBanana-Webhooks/1"


MAX_URL_LENGTH = 2048


class CallbackUrlRejected(InvalidRequest):
    """400 INVALID_REQUEST naming the `url` field; `reason` is the sentence alone (for forms)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"url: {reason}")


def callback_url_vetted(raw: str, *, deadline: Deadline) -> tuple[httpx.URL, list[IPAddress]]:
    """The URL and its addresses under the rules for image URLs; CallbackUrlRejected naming the
    `url` field otherwise."""
    raw = raw.strip()
    if not raw:
        raise CallbackUrlRejected(_("Enter the URL to send webhooks to."))
    try:
        url = outgoing_url_parse(raw, max_length=MAX_URL_LENGTH)
        return url, outgoing_url_addresses(url, deadline=deadline)
    except UrlRefused as refused:
        raise CallbackUrlRejected(refused.reason) from None
    except InvalidRequest:  # the lookup outlasted the deadline
        raise CallbackUrlRejected(_("The URL's host could not be resolved.")) from None


class AttemptFailed(Exception):
    """The POST did not reach a 2xx answer; the message is the delivery's `last_error`."""


def delivery_post(*, url: str, body: bytes, headers: dict[str, str]) -> int:
    """The receiver's status code, from the first vetted address that accepts a connection."""
    deadline = Deadline(float(settings.WEBHOOK_TIMEOUT_SECONDS))
    try:
        # Resolved and vetted again on every attempt: the name may point elsewhere by now.
        parsed, addresses = callback_url_vetted(url, deadline=deadline)
    except CallbackUrlRejected as rejected:
        raise AttemptFailed(rejected.reason) from None
    host = parsed.raw_host.decode("ascii")
    timeout = httpx.Timeout(
        float(settings.WEBHOOK_TIMEOUT_SECONDS),
        connect=float(settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS),
    )
    for index, address in enumerate(addresses):
        client = pinned_client(host=host, address=address, deadline=deadline, timeout=timeout)
        try:
            with client, client.stream("POST", parsed, content=body, headers=headers) as response:
                # The body is never read: the status is the whole answer.
                return response.status_code
        except (httpx.ConnectError, httpx.ConnectTimeout):
            if index == len(addresses) - 1:
                raise AttemptFailed("could not connect") from None
        except httpx.TimeoutException:
            raise AttemptFailed("timed out") from None
        except httpx.HTTPError as error:
            raise AttemptFailed(f"request failed ({type(error).__name__})") from None
    raise AssertionError("unreachable: addresses is never empty")
