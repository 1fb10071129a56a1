"""A real S3-compatible server for the storage tests (moto's standalone server on a loopback port
of its own), and S3's rule for presigned links, which that server does not apply."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from tests.integration.stack import BIN, free_port, process_stop, server_answers, wait_until

ACCESS_KEY = "nanobanana-test"
SECRET_KEY = "nanobanana-test-secret"
# Not us-east-1, boto3's fallback: the region has to travel from the settings into the links.
REGION = "eu-west-1"


def moto_missing() -> str:
    """Why moto's server cannot run here ('' when it can)."""
    if importlib.util.find_spec("moto") is None or not (BIN / "moto_server").exists():
        return "moto[server] is not installed (pip install -e '.[dev]')"
    return ""


@dataclass(kw_only=True)
class MotoServer:
    """`moto_server` on `listen` (127.0.0.1); what it prints goes to `log`. `host` is how the app
    is told to reach it: `localhost`, a name with no bucket.localhost beside it, as for a MinIO
    host (or the listening address itself, off loopback)."""

    log: Path
    port: int = field(default_factory=free_port)
    host: str = "localhost"
    listen: str = "127.0.0.1"
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "moto_server"), "-H", self.listen, "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        up = lambda: self.process.poll() is not None or server_answers(self.url + "/moto-api/")  # noqa: E731
        wait_until(up, 60, "moto_server")
        if self.process.poll() is not None:
            raise RuntimeError(f"moto_server exited: {self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        process_stop(self.process)

    def client(self) -> Any:
        """A boto3 S3 client of the bucket owner's (the tests' side door into the server)."""
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.url, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        )  # fmt: skip

    def bucket_create(self, name: str) -> None:
        self.client().create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
        )

    def keys(self, bucket: str) -> set[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def app_settings(self, bucket: str) -> dict[str, str]:
        """The environment a deployment sets for this bucket: django-storages' names only."""
        return {
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": self.url,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }


def s3_accepts(url: str, *, at: datetime, secret_key: str = SECRET_KEY) -> bool:
    """Whether S3 would serve the presigned GET `url` at `at`, by AWS's rule for Signature
    Version 4 in the query string: the signature is the one `secret_key` makes for this request,
    and X-Amz-Date + X-Amz-Expires has not passed. moto's server applies neither (it serves any
    URL that has a signature in it), so the tests apply the rule here."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(query)
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or "X-Amz-Signature" not in params:
        return False
    signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if (
        not signed_at - timedelta(minutes=15)
        <= at
        <= signed_at + timedelta(seconds=int(params["X-Amz-Expires"]))
    ):
        return False
    if params["X-Amz-SignedHeaders"] != "host":
        return False
    scope = params["X-Amz-Credential"].split("/", 1)[1]  # date/region/s3/aws4_request

    def encode(text: str) -> str:
        return quote(text, safe="-_.~")

    canonical_query = "&".join(
        f"{encode(key)}={encode(value)}" for key, value in sorted(query) if key != "X-Amz-Signature"
    )
    canonical_request = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{parts.netloc}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret_key}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, params["X-Amz-Signature"])
