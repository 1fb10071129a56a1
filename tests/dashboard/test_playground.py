"""/playground/<operation>: every operation of the API from the dashboard, through the API's own
submit path (same validation, limits, charge and queue), recorded as the member's."""

from __future__ import annotations

import base64
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts.models import Account, User
from api.apis import OPERATION_APIS
from billing.selectors import account_billing_summary
from core.errors import ProcessingError
from core.operations import Operation, operation_slug
from imaging.models import Task
from imaging.services import task_fail

pytestmark = pytest.mark.django_db


def png_upload(name: str = "photo.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), (200, 120, 40)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.fixture
def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def url(operation: Operation) -> str:
    return reverse("playground_operation", args=[operation_slug(operation)])


def test_every_operation_has_its_page_with_the_apis_own_fields(signed_in: Client) -> None:
    assert signed_in.get(reverse("playground"))["Location"] == url(Operation.IMAGE_EDIT)
    for operation, api in OPERATION_APIS.items():
        html = signed_in.get(url(operation)).content.decode()
        for name in api.InputSerializer().fields:
            assert f'name="{name}"' in html, (operation, name)
        assert f"POST /v1/{operation_slug(operation)}" in html
    assert signed_in.get("/playground/no-such-thing").status_code == 404
    text_to_image = signed_in.get(url(Operation.TEXT_TO_IMAGE)).content.decode()
    assert re.search(r'name="width" value="" step="1" min="64" max="2048" placeholder="512"',
                     text_to_image)  # fmt: skip
    assert "Costs 8 credits." in text_to_image


def test_the_api_paths_are_the_operation_slugs() -> None:
    for operation in OPERATION_APIS:
        assert reverse(f"api:{operation.value}") == f"/v1/{operation_slug(operation)}"


def test_an_upload_runs_as_the_members_task_charged_like_the_api(
    signed_in: Client, user: User, account: Account
) -> None:
    before = account_billing_summary(account=account).balance
    response = signed_in.post(
        url(Operation.ENHANCE), {"image": png_upload(), "enhancement_type": "color"}
    )
    assert response.status_code == 302
    task_id = re.search(r"\?task=(task_\w+)$", response["Location"]).group(1)
    task = Task.objects.for_account(account).get(public_id=task_id)
    assert (task.source, task.submitted_by, task.api_key) == ("dashboard", user, None)
    assert task.params["enhancement_type"] == "color" and task.queue == "cpu"
    assert account_billing_summary(account=account).balance == before - 4
    page = signed_in.get(response["Location"]).content.decode()
    assert 'id="playground-result"' in page and task_id in page
    assert "curl -X POST http://testserver/v1/enhance" in page
    assert "client.enhance(image_url=&#x27;./image.png&#x27;" in page
    # The page polls its result part (htmx) while the task runs, and stops once it finished.
    polled = signed_in.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert polled.startswith('<section id="playground-result"') and "<html" not in polled
    assert 'hx-trigger="every 1s"' in polled and '<progress max="100" value="0"' in polled
    task_fail(task_id=task.pk, error=ProcessingError("model crashed"))
    done = signed_in.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in done and "4 credits refunded" in done


def test_invalid_fields_are_the_apis_errors_and_charge_nothing(
    signed_in: Client, account: Account
) -> None:
    before = account_billing_summary(account=account).balance
    body = {"prompt": "将背景改为海滩", "image": png_upload(), "strength": "5"}
    response = signed_in.post(url(Operation.IMAGE_EDIT), body)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="playground-error"' in html and "strength" in html
    assert "less than or equal to 1" in html
    assert account_billing_summary(account=account).balance == before
    assert not Task.objects.for_account(account).exists()
    missing = signed_in.post(url(Operation.REMOVE_BACKGROUND), {})
    assert missing.status_code == 400 and "image_url" in missing.content.decode()


def test_the_plans_per_minute_limit_applies(signed_in: Client, account: Account) -> None:
    for _ in range(2):  # the Free plan allows 2 a minute
        assert signed_in.post(url(Operation.ENHANCE), {"image": png_upload()}).status_code == 302
    refused = signed_in.post(url(Operation.ENHANCE), {"image": png_upload()})
    assert refused.status_code == 429 and "Limit reached" in refused.content.decode()
    assert Task.objects.for_account(account).count() == 2


def test_a_batch_runs_as_one_batch_of_tasks(signed_in: Client, account: Account) -> None:
    image = "data:image/png;base64," + base64.b64encode(png_upload().read()).decode()
    body = {"prompt": "换成海边的背景", "image_urls": f"{image}\n\n{image}\n"}
    response = signed_in.post(url(Operation.BATCH_EDIT), body)
    assert response.status_code == 302
    batch_id = re.search(r"\?batch=(batch_\w+)$", response["Location"]).group(1)
    tasks = Task.objects.for_account(account).filter(batch__public_id=batch_id)
    assert tasks.count() == 2
    page = signed_in.get(response["Location"]).content.decode()
    assert all(f'id="item-{task.public_id}"' in page for task in tasks)
    assert 'hx-get="' in page and "htmx" in page  # the page loads htmx from the package
    broken = signed_in.post(url(Operation.BATCH_EDIT), {"prompt": "x", "image_urls": "nope"})
    assert broken.status_code == 400 and "image_urls" in broken.content.decode()


def test_another_accounts_task_is_not_shown(signed_in: Client, make_user, account: Account) -> None:
    other = make_user(email="bob@example.com")
    bob = Client()
    bob.force_login(other)
    response = bob.post(url(Operation.ENHANCE), {"image": png_upload()})
    task_id = re.search(r"task=(task_\w+)", response["Location"]).group(1)
    assert signed_in.get(url(Operation.ENHANCE) + f"?task={task_id}").status_code == 404
    polled = signed_in.get(url(Operation.ENHANCE) + f"?task={task_id}", HTTP_HX_REQUEST="true")
    assert polled.status_code == 404
