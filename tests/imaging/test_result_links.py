"""Result links are opaque: the token names neither the account nor the storage path, yet it is
still authenticated (an altered one is 404) and still expires."""

from __future__ import annotations

import base64
import binascii
import contextlib
import time

import pytest
from django.test import Client, override_settings
from PIL import Image

from imaging.storage import file_name_from_token, file_url, image_save

pytestmark = pytest.mark.django_db

SITE = "http://127.0.0.1:8000"
ACCOUNT_ID = 4242


@pytest.fixture
def name() -> str:
    return image_save(folder="results", account_id=ACCOUNT_ID, image=Image.new("RGB", (3, 3)))


def token_of(url: str) -> str:
    return url.removeprefix(f"{SITE}/files/")


def decodings(token: str) -> list[bytes]:
    """Everything a curious client could read out of the token: the text, and base64 of it."""
    found = [token.encode()]
    for part in [token, *token.replace(":", ".").split(".")]:
        padded = part + "=" * (-len(part) % 4)
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            with contextlib.suppress(binascii.Error, ValueError):
                found.append(decode(padded))
    return found


def test_the_token_reveals_neither_the_account_nor_the_path(name: str) -> None:
    token = token_of(file_url(name=name))
    stem = name.rsplit("/", 1)[1].split(".")[0]
    for text in decodings(token):
        for secret in (str(ACCOUNT_ID).encode(), b"results", stem.encode(), b".png"):
            assert secret not in text


def test_two_links_to_one_file_differ(name: str) -> None:
    assert file_url(name=name) != file_url(name=name)


def test_the_token_still_names_the_file_to_the_server(name: str, client: Client) -> None:
    url = file_url(name=name)
    assert file_name_from_token(token=token_of(url)) == name
    assert client.get(url.removeprefix(SITE)).status_code == 200


@pytest.mark.parametrize("position", [0, 10, 40, -30, -1])
def test_any_altered_character_is_404(name: str, client: Client, position: int) -> None:
    token = token_of(file_url(name=name))
    changed = "A" if token[position] != "A" else "B"
    altered = token[:position] + changed + token[position:][1:]
    assert altered != token
    assert file_name_from_token(token=altered) is None
    assert client.get(f"/files/{altered}").status_code == 404


def test_a_token_made_with_another_secret_key_is_404(name: str, client: Client) -> None:
    with override_settings(SECRET_KEY="another-secret-key-" + "x" * 40):
        token = token_of(file_url(name=name))
    assert client.get(f"/files/{token}").status_code == 404


def test_links_made_before_a_key_rotation_keep_working(name: str, settings) -> None:
    token = token_of(file_url(name=name))
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "the-new-secret-key-" + "y" * 40
    assert file_name_from_token(token=token) == name


def test_a_link_expires_after_the_ttl(
    name: str, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = file_url(name=name).removeprefix(SITE)
    with override_settings(RESULT_URL_TTL_SECONDS=60):
        issued = time.time()
        monkeypatch.setattr(time, "time", lambda: issued + 30)
        assert client.get(path).status_code == 200
        monkeypatch.setattr(time, "time", lambda: issued + 61)
        assert client.get(path).status_code == 404
