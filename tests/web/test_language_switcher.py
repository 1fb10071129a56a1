"""The footer's language switcher (Django's set_language): English or 简体中文 for every page,
remembered in a cookie, whatever the browser's Accept-Language says."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_every_page_offers_both_languages(client: Client) -> None:
    html = client.get(reverse("home")).content.decode()
    assert 'id="language-switcher"' in html
    assert '<option value="zh-hans" lang="zh-hans">简体中文</option>' in html


def test_choosing_chinese_sticks_over_the_browsers_language(client: Client, user: User) -> None:
    client.force_login(user)
    chosen = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/dashboard"},
                         HTTP_ACCEPT_LANGUAGE="en")  # fmt: skip
    assert chosen.status_code == 302 and chosen["Location"] == "/dashboard"
    page = client.get("/dashboard", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="zh-hans">' in page and "控制台" in page
    client.post(reverse("set_language"), {"language": "en", "next": "/dashboard"})
    assert "控制台" not in client.get("/dashboard", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()


def test_an_outside_next_is_not_followed(client: Client) -> None:
    answer = client.post(
        reverse("set_language"), {"language": "en", "next": "https://evil.example/"}
    )
    assert answer.status_code == 302 and "evil.example" not in answer["Location"]
