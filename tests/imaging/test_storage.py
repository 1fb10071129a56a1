"""Results are stored privately and reached through unguessable links that expire."""

import re

import pytest
from django.test import Client, override_settings
from PIL import Image

from imaging.storage import file_url, image_open, image_save

pytestmark = pytest.mark.django_db


def test_transparent_results_are_always_png() -> None:
    name = image_save(folder="results", account_id=1, image=Image.new("RGBA", (4, 4)), fmt="jpeg")
    assert name.endswith(".png") and image_open(name=name).mode == "RGBA"


def test_opaque_results_follow_the_requested_format() -> None:
    name = image_save(folder="results", account_id=1, image=Image.new("RGB", (4, 4)), fmt="jpeg")
    assert name.endswith(".jpg") and image_open(name=name).format == "JPEG"


def test_names_are_unguessable() -> None:
    names = {
        image_save(folder="results", account_id=1, image=Image.new("RGB", (2, 2))) for _ in range(3)
    }
    assert len(names) == 3
    assert all(re.search(r"/[A-Za-z0-9_-]{32}\.png$", name) for name in names)


def test_a_signed_link_serves_the_file(client: Client) -> None:
    name = image_save(folder="results", account_id=1, image=Image.new("RGB", (3, 3), "red"))
    url = file_url(name=name)
    assert url.startswith("http://127.0.0.1:8000/files/")
    response = client.get(url.removeprefix("http://127.0.0.1:8000"))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_tampered_link_is_404(client: Client) -> None:
    name = image_save(folder="results", account_id=1, image=Image.new("RGB", (3, 3)))
    path = file_url(name=name).removeprefix("http://127.0.0.1:8000")
    assert client.get(path[:-3] + "abc").status_code == 404


def test_an_expired_link_is_404(client: Client) -> None:
    name = image_save(folder="results", account_id=1, image=Image.new("RGB", (3, 3)))
    path = file_url(name=name).removeprefix("http://127.0.0.1:8000")
    with override_settings(RESULT_URL_TTL_SECONDS=-1):
        assert client.get(path).status_code == 404
