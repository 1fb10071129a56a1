"""The Stripe webhook answers 400 and records nothing for what is signed but not a fresh event."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from accounts.models import Account
from billing.models import StripeEvent, Subscription
from tests.billing.stripe.conftest import WEBHOOK_SECRET, StripeWorld
from tests.stripe_stub import event_payload, sign

pytestmark = pytest.mark.django_db

DAY = 86_400


def _post(client: Client, payload: bytes, *, timestamp: int | None = None):
    return client.post(
        "/billing/stripe/webhook",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload, secret=WEBHOOK_SECRET, timestamp=timestamp),
    )


def _event(**changes: object) -> dict:
    event = {
        "id": "evt_malformed_0001",
        "object": "event",
        "type": "customer.subscription.updated",
        "data": {"object": {"id": "sub_stub_alice", "object": "subscription"}},
    }
    event.update(changes)
    return {key: value for key, value in event.items() if value is not ...}


def _assert_nothing_recorded(world: StripeWorld, account: Account) -> None:
    subscription = Subscription.objects.select_related("plan").get(account=account)
    assert subscription.plan.code == "free"
    assert subscription.stripe_subscription_id == ""
    assert Account.objects.get(pk=account.pk).credit_balance == 50
    assert not StripeEvent.objects.exists()
    assert world.stub.requests == []  # Stripe was not even asked


MALFORMED = {
    "no data.object": _event(data={}),
    "data missing": _event(data=...),
    "data.object a string": _event(data={"object": "sub_stub_alice"}),
    "data.object a list": _event(data={"object": [{"id": "sub_stub_alice"}]}),
    "data a list": _event(data=[{"object": {}}]),
    "type not a string": _event(type=["customer.subscription.updated"]),
    "type missing": _event(type=...),
    "id missing": _event(id=...),
    "id empty": _event(id=""),
    "id a number": _event(id=42),
}


@pytest.mark.parametrize("event", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_signed_event_of_the_wrong_shape_is_a_400_that_records_nothing(
    world: StripeWorld, client: Client, account: Account, event: dict
) -> None:
    world.subscribe("pro")

    response = _post(client, json.dumps(event).encode())

    assert response.status_code == 400
    _assert_nothing_recorded(world, account)


@pytest.mark.parametrize(
    "body",
    [b"[1, 2, 3]", b'"hello"', b"null", b"42", b"{not json", b"\xff\xfe", b"[" * 100_000],
    ids=["array", "string", "null", "number", "not json", "not utf-8", "deeply nested"],
)
def test_a_signed_body_that_is_not_an_event_object_is_a_400(
    world: StripeWorld, client: Client, account: Account, body: bytes
) -> None:
    world.subscribe("pro")
    timestamp = int(time.time())
    signature = _signature_over_bytes(body, timestamp)

    response = client.post(
        "/billing/stripe/webhook",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )

    assert response.status_code == 400
    _assert_nothing_recorded(world, account)


def _signature_over_bytes(body: bytes, timestamp: int) -> str:
    # tests.stripe_stub.sign decodes the payload as text; a body that is not UTF-8 still gets a
    # header of the right form (the SDK refuses it while decoding, before comparing).
    try:
        return sign(body, secret=WEBHOOK_SECRET, timestamp=timestamp)
    except UnicodeDecodeError:
        return f"t={timestamp},v1={'0' * 64}"


@pytest.mark.parametrize("hint", [{"metadata": "x"}, {"customer": 7}, {"id": 12}, {"id": None}])
def test_hints_of_the_wrong_type_are_ignored_rather_than_a_500(
    world: StripeWorld, client: Client, account: Account, hint: dict
) -> None:
    # Inside a well-formed event, the object's fields are only hints of what to re-read.
    world.subscribe("pro")
    obj = {"id": world.subscription_id, "object": "subscription", **hint}

    payload = event_payload(event_type="customer.subscription.updated", obj=obj)

    assert _post(client, payload).status_code == 200


@pytest.mark.parametrize("obj", [{"parent": "x"}, {"parent": {"subscription_details": [1]}}])
def test_an_invoice_whose_parent_is_of_the_wrong_type_names_no_subscription(
    world: StripeWorld, client: Client, account: Account, obj: dict
) -> None:
    payload = event_payload(event_type="invoice.paid", obj={"id": "in_1", **obj})

    assert _post(client, payload).status_code == 200
    assert world.stub.requests == []


@pytest.mark.parametrize("seconds_ahead", [DAY, 301])
def test_a_signature_from_the_future_is_refused(
    world: StripeWorld, client: Client, account: Account, settings, seconds_ahead: int
) -> None:
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
    world.subscribe("pro")
    payload = event_payload(event_type="checkout.session.completed", obj=world.checkout_session())

    response = _post(client, payload, timestamp=int(time.time()) + seconds_ahead)

    assert response.status_code == 400
    _assert_nothing_recorded(world, account)


def test_a_signature_from_the_past_beyond_the_tolerance_is_refused(
    world: StripeWorld, client: Client, account: Account, settings
) -> None:
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
    world.subscribe("pro")
    payload = event_payload(event_type="checkout.session.completed", obj=world.checkout_session())

    assert _post(client, payload, timestamp=int(time.time()) - 301).status_code == 400
    _assert_nothing_recorded(world, account)


@pytest.mark.parametrize("skew", [-240, 240])
def test_a_signature_within_the_tolerance_either_way_is_accepted(
    world: StripeWorld, client: Client, account: Account, settings, skew: int
) -> None:
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
    world.subscribe("pro")
    payload = event_payload(event_type="checkout.session.completed", obj=world.checkout_session())

    assert _post(client, payload, timestamp=int(time.time()) + skew).status_code == 200
    assert Subscription.objects.get(account=account).plan.code == "pro"


def test_stripe_being_unreachable_is_a_503_with_retry_after(
    world: StripeWorld, client: Client, account: Account, settings
) -> None:
    world.subscribe("pro")
    settings.STRIPE_API_BASE = "http://127.0.0.1:1"  # nothing listens on port 1
    payload = event_payload(event_type="checkout.session.completed", obj=world.checkout_session())

    response = _post(client, payload)

    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    assert not StripeEvent.objects.exists()
