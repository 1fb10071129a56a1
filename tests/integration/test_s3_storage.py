"""Inputs, results and masks on S3, against a real S3-compatible server (moto's): private objects,
presigned links that expire, retention that deletes them, and web and worker sharing no disk."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import override_settings
from PIL import Image

from accounts.models import Account
from core.operations import Operation
from imaging.models import Task
from imaging.services import (
    ClaimResult,
    TaskInput,
    task_claim,
    task_complete,
    task_files_purge,
    task_submit,
)
from imaging.storage import file_url, image_open, image_save
from tests.conftest import IN_CI
from tests.integration.conftest import live_stack_run
from tests.integration.s3 import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    MotoServer,
    moto_missing,
    s3_accepts,
)
from tests.integration.stack import LiveStack, wait_until


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    if missing := moto_missing():
        if IN_CI:
            pytest.fail(f"{missing}: CI runs the S3 storage tests")
        pytest.skip(missing)
    server = MotoServer(log=tmp_path_factory.mktemp("moto") / "moto.log")
    server.start()  # a moto that is installed but does not start fails the tests, everywhere
    try:
        yield server
    finally:
        server.stop()


def bucket_create(moto: MotoServer) -> str:
    name = f"nb-{uuid.uuid4().hex[:12]}"
    moto.bucket_create(name)
    return name


@pytest.fixture
def bucket(moto: MotoServer) -> Iterator[str]:
    """A fresh bucket that default_storage writes to. Only the deployment's own values are set
    here; the storage policy (ACL, signing, expiry, overwriting) is the base settings' own.
    Django resets its storages when STORAGES changes."""
    name = bucket_create(moto)
    with override_settings(
        STORAGES={**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}},
        AWS_STORAGE_BUCKET_NAME=name,
        AWS_S3_ENDPOINT_URL=moto.url,
        AWS_S3_REGION_NAME=REGION,
        AWS_S3_ADDRESSING_STYLE="path",  # as base.py derives it for an endpoint
        AWS_S3_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_S3_SECRET_ACCESS_KEY=SECRET_KEY,
    ):
        yield name


def picture(color: tuple[int, int, int] = (200, 120, 40)) -> Image.Image:
    return Image.new("RGB", (32, 24), color)


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def test_images_are_stored_in_the_bucket_and_read_back(moto: MotoServer, bucket: str) -> None:
    png = image_save(folder="results", account_id=7, image=picture())
    jpeg = image_save(folder="results", account_id=7, image=picture(), fmt="jpeg")
    assert moto.keys(bucket) == {png, jpeg}
    assert image_open(name=png).format == "PNG" and image_open(name=jpeg).size == (32, 24)
    head = moto.client().head_object(Bucket=bucket, Key=jpeg)
    assert head["ContentType"] == "image/jpeg"


def test_objects_are_private(moto: MotoServer, bucket: str) -> None:
    name = image_save(folder="results", account_id=7, image=picture())
    assert httpx.get(f"{moto.url}/{bucket}/{name}").status_code == 403
    grants = moto.client().get_object_acl(Bucket=bucket, Key=name)["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
    assert grants[0]["Grantee"]["Type"] == "CanonicalUser"  # the owner alone; no AllUsers


def test_a_result_link_is_the_buckets_own_presigned_url(moto: MotoServer, bucket: str) -> None:
    name = image_save(folder="results", account_id=7, image=picture((10, 200, 10)))
    url = file_url(name=name)
    # Straight to the bucket, by path (no bucket.localhost), not through the app's /files/.
    assert url.startswith(f"{moto.url}/{bucket}/{name}?")
    query = query_of(url)
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"  # SigV4: boto3 alone presigns SigV2
    assert query["X-Amz-Expires"] == str(settings.RESULT_URL_TTL_SECONDS)
    assert query["X-Amz-Credential"].split("/")[2] == REGION
    assert s3_accepts(url, at=datetime.now(UTC))
    response = httpx.get(url)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).getpixel((0, 0)) == (10, 200, 10)


@override_settings(RESULT_URL_TTL_SECONDS=1)
def test_a_link_expires_with_result_url_ttl_seconds(bucket: str) -> None:
    url = file_url(name=image_save(folder="results", account_id=7, image=picture()))
    assert query_of(url)["X-Amz-Expires"] == "1"
    signed_at = datetime.strptime(query_of(url)["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert s3_accepts(url, at=signed_at + timedelta(seconds=1))
    assert not s3_accepts(url, at=signed_at + timedelta(seconds=2))


def test_the_link_rule_refuses_what_s3_refuses(bucket: str) -> None:
    """The rule the expiry test leans on is not a rubber stamp."""
    url = file_url(name=image_save(folder="results", account_id=7, image=picture()))
    now = datetime.now(UTC)
    assert s3_accepts(url, at=now)
    assert not s3_accepts(url, at=now, secret_key="another secret")
    assert not s3_accepts(url.replace("/results/", "/inputs/"), at=now)
    signature = query_of(url)["X-Amz-Signature"]
    assert not s3_accepts(url.replace(signature, signature[::-1]), at=now)


def test_a_stored_name_is_never_overwritten(moto: MotoServer, bucket: str) -> None:
    first = default_storage.save("results/7/same.png", ContentFile(b"first"))
    second = default_storage.save("results/7/same.png", ContentFile(b"second"))
    assert first != second and moto.keys(bucket) == {first, second}
    with default_storage.open(first) as handle:
        assert handle.read() == b"first"


@pytest.mark.django_db
def test_retention_deletes_the_objects(moto: MotoServer, bucket: str, account: Account) -> None:
    task = task_submit(
        account=account,
        operation=Operation.REMOVE_BACKGROUND,
        task_input=TaskInput(params={}, images=(picture(),)),
    )
    assert task_claim(task_id=task.pk) == ClaimResult.CLAIMED
    result = image_save(folder="results", account_id=account.pk, image=picture())
    mask = image_save(folder="results", account_id=account.pk, image=picture().convert("L"))
    task_complete(
        task_id=task.pk, result_files=[result], mask_file=mask, description="done", seed=1,
        timings={}, demo=True,
    )  # fmt: skip
    kept = image_save(folder="results", account_id=account.pk, image=picture())
    assert moto.keys(bucket) == {*task.input_files, result, mask, kept}
    days = settings.IMAGING_FILE_RETENTION_DAYS
    Task.objects.for_account(account).filter(pk=task.pk).update(
        completed_at=datetime.now(UTC) - timedelta(days=days + 1)
    )

    assert task_files_purge() == 1
    assert moto.keys(bucket) == {kept}  # the other task's file is not touched


# --- End to end: web and worker on their own disks ------------------------------------------------


@pytest.fixture(scope="module")
def s3_stack(moto: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """uvicorn and a worker with the bucket's settings from the environment and each its own
    empty MEDIA_ROOT (and manage.py a third): no disk is shared. PostgreSQL and Redis when the
    suite has them, as the `stack` fixture."""
    var = tmp_path_factory.mktemp("s3-var")
    media = {name: var / f"media-{name}" for name in ("manage", "web", "worker")}
    for folder in media.values():
        folder.mkdir()
    live = LiveStack(
        var_dir=var,
        settings={**moto.app_settings(bucket_create(moto)), "MEDIA_ROOT": str(media["manage"])},
        process_settings={name: {"MEDIA_ROOT": str(media[name])} for name in ("web", "worker")},
    )
    # Neither the suite's Redis database nor the `stack` fixture's (14).
    yield from live_stack_run(live, database_prefix="nanobanana_s3", redis_db=13)


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


@pytest.mark.integration
def test_an_upload_is_processed_through_the_bucket_with_no_shared_disk(
    moto: MotoServer, s3_stack: LiveStack
) -> None:
    bucket = s3_stack.settings["AWS_STORAGE_BUCKET_NAME"]
    key = s3_stack.manage("issue_api_key", "--email", "s3@example.com", "--plan", "pro")
    headers = {"Authorization": f"Bearer {key.stdout.strip().splitlines()[-1]}"}
    upload = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 140, 200)).save(upload, "PNG")
    with httpx.Client(base_url=s3_stack.base_url, headers=headers, timeout=120) as api:
        answer = api.post(
            "/v1/remove-background",
            data={"return_mask": "true"},
            files={"image": ("photo.png", upload.getvalue(), "image/png")},
        )
        assert answer.status_code in {200, 202}, answer.text
        task_id = answer.json()["task_id"]

        def finished() -> bool:
            nonlocal answer
            answer = api.get(f"/v1/task/{task_id}")
            return answer.json()["status"] in {"completed", "failed"}

        wait_until(finished, 120, "the task", every=0.5)
    task = answer.json()
    assert task["status"] == "completed", (task, s3_stack.log_tail("worker.log"))

    for link in (task["result"]["image_url"], task["result"]["mask_url"]):
        assert link.startswith(f"{moto.url}/{bucket}/results/"), link
        assert s3_accepts(link, at=datetime.now(UTC))
        response = httpx.get(link)
        assert response.status_code == 200
        assert Image.open(io.BytesIO(response.content)).size == (64, 48)
        assert httpx.get(link.split("?")[0]).status_code == 403  # unsigned: refused
    stored = moto.keys(bucket)
    assert {name.split("/")[0] for name in stored} == {"inputs", "results"} and len(stored) == 3
    media = [s3_stack.var_dir / f"media-{name}" for name in ("manage", "web", "worker")]
    media.append(s3_stack.var_dir / "media")  # the default MEDIA_ROOT of NANOBANANA_VAR_DIR
    assert [path for folder in media for path in files_under(folder)] == []
