"""The dashboard in a real browser: Debian's Chromium driven by Playwright (never a downloaded
browser) against uvicorn and a real Celery worker. A customer logs in, lands on the dashboard,
runs background removal in the playground and watches its progress to the result, finds it in
the history, and reads the pages in Chinese; no page breaks its Content-Security-Policy."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import IN_CI
from tests.integration.conftest import Stack, stack  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EMAIL, PASSWORD = "browser@example.com", "correct horse battery staple"


@pytest.fixture(scope="module")
def site(stack: Stack) -> Stack:  # noqa: F811
    """The stack serving its pages as `make run` does (static files collected), signing result
    links for its own address, with one verified customer."""
    stack.manage("collectstatic", "--noinput", "--verbosity", "0")
    stack.settings["SITE_URL"] = stack.base_url
    stack.web_restart()
    stack.manage("shell", "-c", (
        "from allauth.account.models import EmailAddress\n"
        "from accounts.services import user_create\n"
        f"user = user_create(email={EMAIL!r}, password={PASSWORD!r})\n"
        "EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)\n"
    ))  # fmt: skip
    return stack


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a dev dependency
        pytest.fail("playwright is not installed (make install)")
    if not Path(CHROMIUM).exists():
        reason = "Debian's chromium is not installed (apt-get install chromium)"
        if IN_CI:
            pytest.fail(reason + ": CI must run the browser tests")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        # --no-sandbox: the suite runs as root here, where Chromium's sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def png(path: Path) -> Path:
    image = Image.new("RGB", (96, 64), (30, 120, 200))
    for x in range(30, 66):
        for y in range(16, 48):
            image.putpixel((x, y), (230, 180, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_log_in_run_the_playground_and_find_the_result(
    site: Stack, browser, tmp_path: Path
) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)  # fmt: skip

    page.goto(site.base_url + "/accounts/login/")
    page.fill("input[name=login]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))
    assert page.inner_text("h1") == "Dashboard"
    assert page.inner_text("#balance").strip().startswith("50")  # the Free plan's credits

    page.goto(site.base_url + "/playground/remove-background")
    page.set_input_files("input[name=image]", str(png(tmp_path / "photo.png")))
    page.select_option("select[name=return_mask]", "true")
    page.click("#playground-form button[type=submit]")
    page.wait_for_url(re.compile(r"\?task=task_\w+$"))
    task_id = page.url.rsplit("=", 1)[1]
    # htmx polls the result part until the worker has finished; then the images appear.
    result = page.locator("#playground-result figure.checker img").first
    result.wait_for(state="visible", timeout=120_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#playground-result img')]"
        ".every(img => img.complete && img.naturalWidth > 0)",
        timeout=30_000,
    )
    assert page.locator("#playground-result img").count() == 2  # the cut-out and its mask
    assert "completed" in page.inner_text(f"#item-{task_id}").lower()
    assert "curl -X POST" in page.inner_text("#snippet-curl")

    page.goto(site.base_url + "/tasks")
    page.click(f"a[href='/tasks/{task_id}']")
    assert task_id in page.inner_text("h1")
    assert '"status": "completed"' in page.inner_text("#task-json")

    page.goto(site.base_url + "/dashboard")
    assert page.inner_text("#balance").strip().startswith("47")  # 3 credits spent
    assert task_id in page.inner_text("#recent-tasks")
    context.close()

    chinese = browser.new_context(locale="zh-CN")
    page = chinese.new_page()
    page.goto(site.base_url + "/accounts/login/")
    page.fill("input[name=login]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))
    assert page.inner_text("h1") == "控制台"
    page.goto(site.base_url + "/playground/image-edit")
    assert "试用区" in page.inner_text("h1") and "提示词" in page.inner_text("#playground-form")
    chinese.close()
    assert refused == [], refused
