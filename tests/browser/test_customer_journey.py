"""The customer journey of the dashboard in Debian's Chromium (Playwright), against uvicorn and a
real Celery worker, once in English and once in Chinese: sign up, confirm from the console email,
land on /dashboard, create a key, remove a background in the playground from an uploaded photo
while the progress bar moves, see the result and its mask, find the balance 3 credits lower and
the task in /tasks and its page, invite a teammate who signs up from the link, sees the same
balance and history and is refused key and member management. Every page is screenshotted into
a folder the test prints (CI keeps it as an artifact)."""

from __future__ import annotations

import email
import email.policy
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from skimage import data as skimage_data

from tests.browser.test_dashboard_in_chromium import browser  # noqa: F401 (the fixture)
from tests.integration.conftest import ROOT, Stack, stack  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration

SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Words:
    """What each language's pages say where the journey looks."""

    locale: str
    dashboard: str
    recent: str
    keys_managed: str


ENGLISH = Words("en-US", "Dashboard", "Recent tasks", "owners and admins create and revoke")
CHINESE = Words("zh-CN", "控制台", "最近的任务", "由所有者和管理员创建和吊销")


@pytest.fixture(scope="module")
def site(stack: Stack) -> Stack:  # noqa: F811
    stack.manage("collectstatic", "--noinput", "--verbosity", "0")
    stack.settings["SITE_URL"] = stack.base_url
    stack.web_restart()
    return stack


def console_emails(site: Stack) -> list[email.message.EmailMessage]:
    """The messages the web process printed (the default console email backend)."""
    text = (site.var_dir / "web.out").read_text(encoding="utf-8", errors="replace")
    messages = []
    for block in re.split(r"\n-{79}\n", text):
        start = block.find("Content-Type: ")
        if start != -1 and "\nTo: " in block:
            raw = block[start:]
            messages.append(email.message_from_string(raw, policy=email.policy.default))
    return messages


def link_to(site: Stack, address: str, path: str, timeout: float = 30) -> str:
    """The newest link under `path` in an email to `address`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in reversed(console_emails(site)):
            if address in str(message["To"]):
                body = message.get_body(preferencelist=("plain",)).get_content()
                found = re.search(rf"{re.escape(site.base_url)}{re.escape(path)}\S+", body)
                if found:
                    return found.group(0).rstrip(".")
        time.sleep(0.3)
    raise AssertionError(f"no email to {address} with a {path} link")


def photo(path: Path) -> Path:
    """A real photograph (scikit-image's astronaut), large enough that removing its background
    takes seconds even on a warm worker of a fast machine (9 MP, under the free plan's 10): the
    page polls once a second, and at 2 MP the second journey's warm worker finished between two
    polls (the bar seen at 0 only)."""
    Image.fromarray(skimage_data.astronaut()).resize((3000, 3000)).save(path, quality=90)
    return path


class Shots:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, page, name: str) -> None:  # type: ignore[no-untyped-def]
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


def sign_up(site: Stack, page, address: str, shots: Shots, next_path: str = "") -> None:  # type: ignore[no-untyped-def]
    page.goto(site.base_url + "/accounts/signup/" + (f"?next={next_path}" if next_path else ""))
    shots(page, f"signup-{address.split('@')[0]}")
    page.fill("input[name=email]", address)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/confirm-email/$"))
    shots(page, "verification-sent")
    page.goto(link_to(site, address, "/accounts/confirm-email/"))
    shots(page, "confirm-email")
    page.click("form button[type=submit]")


def balance(page) -> int:  # type: ignore[no-untyped-def]
    return int(re.sub(r"\D", "", page.inner_text("#balance").split("\n")[0]))


@pytest.mark.parametrize("words", [ENGLISH, CHINESE], ids=["en", "zh"])
def test_the_customer_journey(site: Stack, browser, words: Words, tmp_path: Path) -> None:  # noqa: F811
    shots = Shots(SCREENSHOTS / words.locale)
    print(f"\nscreenshots: {shots.folder}")
    owner_email = f"owner-{words.locale.lower()}@example.com"
    mate_email = f"mate-{words.locale.lower()}@example.com"
    refused: list[str] = []

    def watch(page):  # type: ignore[no-untyped-def]
        page.on("console", lambda m: refused.append(m.text)
                if "Content Security Policy" in m.text else None)  # fmt: skip
        return page

    owner = browser.new_context(locale=words.locale)
    page = watch(owner.new_page())
    sign_up(site, page, owner_email, shots)
    page.wait_for_url(re.compile(r"/dashboard$"))
    assert page.inner_text("h1") == words.dashboard
    shots(page, "dashboard-new")
    start = balance(page)

    page.goto(site.base_url + "/profile")
    page.fill("input[name=name]", "ci")
    page.click("form[action='/profile/keys'] button[type=submit]")
    assert page.input_value("#new-key").startswith("nk_live_")
    shots(page, "profile-new-key")

    page.goto(site.base_url + "/playground/remove-background")
    shots(page, "playground")
    page.set_input_files("input[name=image]", str(photo(tmp_path / "astronaut.jpg")))
    page.select_option("select[name=return_mask]", "true")
    page.click("#playground-form button[type=submit]")
    page.wait_for_url(re.compile(r"\?task=task_\w+$"))
    task_id = page.url.rsplit("=", 1)[1]
    seen: list[int] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and page.locator("#playground-result progress").count():
        value = page.evaluate("document.querySelector('#playground-result progress')?.value")
        if value is not None and (not seen or seen[-1] != value):
            seen.append(int(value))
            if len(seen) == 2:
                shots(page, "playground-progress")
        time.sleep(0.05)
    print(f"progress bar values seen: {seen}")
    assert len(seen) >= 2 and seen == sorted(seen), f"the progress bar did not move: {seen}"
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('#playground-result img')];"
        " return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0) }",
        timeout=60_000,
    )
    shots(page, "playground-result")

    page.goto(site.base_url + "/dashboard")
    assert balance(page) == start - 3
    assert task_id in page.inner_text("#recent-tasks")
    shots(page, "dashboard-after")
    page.goto(site.base_url + "/tasks")
    shots(page, "tasks")
    page.click(f"a[href='/tasks/{task_id}']")
    assert '"status": "completed"' in page.inner_text("#task-json")
    shots(page, "task-detail")
    page.goto(site.base_url + "/billing")
    shots(page, "billing")

    page.goto(site.base_url + "/team")
    page.fill("#invite-form input[name=email]", mate_email)
    page.select_option("#invite-form select[name=role]", "member")
    page.click("#invite-form button[type=submit]")
    assert mate_email in page.inner_text("#invitations")
    shots(page, "team-invited")
    invitation = link_to(site, mate_email, "/team/invitations/accept/")

    mate = browser.new_context(locale=words.locale)
    page = watch(mate.new_page())
    page.goto(invitation)  # not signed up yet: the login page, which leads to sign-up
    assert "/accounts/login/" in page.url
    sign_up(site, page, mate_email, shots, next_path=invitation.removeprefix(site.base_url))
    page.goto(invitation)
    shots(page, "invitation")
    page.click("#accept-invitation")
    page.wait_for_url(re.compile(r"/dashboard$"))
    assert balance(page) == start - 3  # the same account: its balance...
    assert task_id in page.inner_text("#recent-tasks")  # ...and its history
    shots(page, "teammate-dashboard")
    page.goto(site.base_url + "/profile")
    assert words.keys_managed in page.inner_text("#keys-managed-by-admins")
    assert page.locator("form[action='/profile/keys']").count() == 0
    page.goto(site.base_url + "/team")
    assert page.locator("#invite-form").count() == 0
    shots(page, "teammate-team")
    token = page.input_value("#account-switcher input[name=csrfmiddlewaretoken]")
    for path, body in (
        ("/profile/keys", "name=x"),
        ("/team/invitations", "email=x%40example.com&role=member"),
    ):
        status = page.evaluate(
            "([path, body, token]) => fetch(path, {method: 'POST', body, headers: {"
            "'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRFToken': token}})"
            ".then(r => r.status)",
            [path, body, token],
        )
        assert status == 403, (path, status)
    response = page.goto(site.base_url + "/webhooks")
    assert response.status == 403
    mate.close()
    owner.close()
    assert refused == [], refused
