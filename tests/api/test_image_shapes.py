"""Images of a shape the operation's model cannot take are refused at submit with 400, before
anything is charged, instead of being charged, failed by the worker and refunded."""

import base64
import io

import pytest
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import Account
from billing.models import CreditLedgerEntry
from billing.selectors import account_billing_summary
from imaging.engine import shapes
from imaging.models import Task

pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_PREFER": "respond-async"}
STARTING_BALANCE = 50


def data_url(size: tuple[int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def assert_nothing_charged(account: Account) -> None:
    assert account_billing_summary(account=account).balance == STARTING_BALANCE
    assert not Task.objects.for_account(account).exists()
    assert not CreditLedgerEntry.objects.for_account(account).filter(amount__lt=0).exists()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/image-edit", {"prompt": "make it blue", "image_url": data_url((4000, 10))}),
        ("/v1/image-edit", {"prompt": "make it blue", "image_url": data_url((10, 4000))}),
        (
            "/v1/style-transfer",
            {"content_image_url": data_url((64, 64)), "style_image_url": data_url((900, 100))},
        ),
        (
            "/v1/batch-edit",
            {"prompt": "make it blue", "image_urls": [data_url((64, 64)), data_url((4000, 10))]},
        ),
    ],
)
def test_an_extreme_shape_is_400_and_nothing_is_charged(
    authed_client: APIClient, account: Account, path: str, body: dict
) -> None:
    response = authed_client.post(path, body, format="json", **ASYNC)
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert f"at most {shapes.MAX_ASPECT_RATIO} times" in error["details"]
    assert_nothing_charged(account)


def test_the_limit_itself_is_accepted(authed_client: APIClient, account: Account) -> None:
    body = {"prompt": "make it blue", "image_url": data_url((8 * 16, 16))}
    response = authed_client.post("/v1/image-edit", body, format="json", **ASYNC)
    assert response.status_code == 202, response.json()


def test_operations_that_take_any_shape_still_accept_it(
    authed_client: APIClient, account: Account
) -> None:
    body = {"image_url": data_url((4000, 10)), "enhancement_type": "color"}
    response = authed_client.post("/v1/enhance", body, format="json", **ASYNC)
    assert response.status_code == 202, response.json()
