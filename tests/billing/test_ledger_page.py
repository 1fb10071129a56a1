"""The credit ledger on /billing: a paged table newest first, and the whole ledger as CSV."""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Membership, User
from accounts.services import account_create
from accounts.web import SESSION_ACCOUNT_KEY
from billing.models import CreditLedgerEntry
from billing.selectors import ledger_page, ledger_rows_for_export
from billing.services import credits_charge, credits_grant, credits_refund, credits_set_balance

pytestmark = pytest.mark.django_db

BOM = b"\xef\xbb\xbf"
HEADER = ["created_at", "kind", "amount", "usage", "balance_after", "reference", "note"]
# The full-width comma is no CSV separator; the note must come back whole.
CHINESE_NOTE = "任务失败，已退款"  # noqa: RUF001
ROW = re.compile(r'<tr id="ledger-(\d+)">(.*?)</tr>', re.S)
CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)
TAG = re.compile(r"<[^>]+>")


@pytest.fixture
def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def grant(account: Account, amount: int, key: str, **fields: object) -> CreditLedgerEntry:
    return credits_grant(
        account=account, amount=amount, kind="grant", idempotency_key=key, **fields
    )


def ledger_ids(account: Account) -> list[int]:
    """Every row of the account, newest first (the order the page and the CSV promise)."""
    rows = CreditLedgerEntry.objects.for_account(account).order_by("-created_at", "-pk")
    return list(rows.values_list("pk", flat=True))


def set_created_at(entry: CreditLedgerEntry, moment: datetime) -> None:
    # Rows are never updated in the app; a test pins timestamps to check the ordering and format.
    CreditLedgerEntry.unscoped_objects.filter(pk=entry.pk).update(created_at=moment)


def billing_html(client: Client, query: str = "") -> str:
    response = client.get(reverse("billing") + query)
    assert response.status_code == 200
    return response.content.decode()


def table(html: str) -> list[tuple[int, list[str]]]:
    """The ledger table's rows: (entry id, the text of each cell)."""
    return [
        (int(pk), [TAG.sub("", cell).strip() for cell in CELL.findall(body)])
        for pk, body in ROW.findall(html)
    ]


def older_link(html: str) -> str | None:
    match = re.search(r'<a id="ledger-older" href="([^"]*)"', html)
    return match.group(1).split("#")[0] if match else None


def download(client: Client) -> tuple[bytes, list[list[str]]]:
    response = client.get(reverse("billing_ledger_csv"))
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content)
    return body, list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def join_team_as(role: str, *, user: User, make_user: Callable[..., User]) -> Account:
    """A team account someone else owns, which `user` joins with `role`."""
    team = account_create(
        owner=make_user(email="owner@example.com"), name="Team", is_personal=False
    )
    Membership.objects.create(account=team, user=user, role=role)
    return team


def work_in(client: Client, account: Account) -> None:
    session = client.session
    session[SESSION_ACCOUNT_KEY] = account.pk
    session.save()


# --- The table ----------------------------------------------------------------------------------


def test_the_table_shows_entries_newest_first_with_signed_amounts(
    signed_in: Client, account: Account
) -> None:
    promo = grant(account, 10, "promo:1", note="Spring promo")
    charge = credits_charge(account=account, cost=5, idempotency_key="t:1", reference="tsk_one")
    refund = credits_refund(charge=charge, note="Task failed")

    rows = table(billing_html(signed_in))

    assert [pk for pk, _cells in rows] == ledger_ids(account)
    assert [pk for pk, _cells in rows[:3]] == [refund.pk, charge.pk, promo.pk]
    kinds_amounts_balances = [(cells[1], cells[2], cells[3]) for _pk, cells in rows]
    assert kinds_amounts_balances == [
        ("Refund", "+5", "60"),
        ("Charge", "-5", "55"),
        ("Grant", "+10", "60"),
        ("Grant", "+50", "50"),  # the sign-up allowance
    ]
    assert rows[1][1][4] == "tsk_one"
    assert rows[0][1][4] == "tsk_one"  # a refund names the task its charge named
    assert rows[0][1][5] == "Task failed"


def test_the_table_names_who_moved_credits_and_dates_in_utc(
    signed_in: Client, account: Account, user: User, settings
) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"  # UTC+8: a local date would read 21:30
    entry = grant(account, 3, "gift", note="A gift", actor=user)
    set_created_at(entry, datetime(2025, 3, 4, 13, 30, tzinfo=UTC))

    _pk, cells = next(row for row in table(billing_html(signed_in)) if row[0] == entry.pk)

    assert cells[0] == "2025-03-04 13:30"
    assert cells[6] == user.email
    assert "A gift" in cells[5]


def test_an_account_with_few_entries_has_no_page_links(signed_in: Client) -> None:
    html = billing_html(signed_in)
    assert len(table(html)) == 1
    assert 'id="ledger-older"' not in html
    assert 'id="ledger-newest"' not in html
    assert f'href="{reverse("billing_ledger_csv")}"' in html


def test_the_pages_together_show_every_entry_once(signed_in: Client, account: Account) -> None:
    for n in range(55):
        grant(account, 1, f"bulk:{n}")
    everything = ledger_ids(account)
    assert len(everything) == 56

    first_html = billing_html(signed_in)
    first = [pk for pk, _cells in table(first_html)]
    link = older_link(first_html)
    assert link == f"?before={first[-1]}"
    assert 'id="ledger-newest"' not in first_html

    second_html = billing_html(signed_in, link)
    second = [pk for pk, _cells in table(second_html)]

    assert len(first) == 50
    assert first + second == everything
    assert older_link(second_html) is None
    assert f'<a id="ledger-newest" href="{reverse("billing")}#ledger"' in second_html


def test_pages_follow_the_timestamps_and_break_ties_by_id(account: Account) -> None:
    entries = [grant(account, 1, f"k:{n}") for n in range(7)]
    base = timezone.now() - timedelta(days=1)
    # Ids out of timestamp order (a transaction that committed late), and shared timestamps.
    for entry, minutes in zip(entries, [5, 1, 1, 1, 3, 0, 4], strict=True):
        set_created_at(entry, base + timedelta(minutes=minutes))
    seen: list[int] = []
    before_id = None
    while True:
        page = ledger_page(account=account, limit=3, before_id=before_id)
        seen += [entry.pk for entry in page.entries]
        if not page.has_more:
            break
        before_id = page.next_before_id

    assert seen == ledger_ids(account)
    assert len(seen) == len(set(seen)) == 8
    # After the sign-up allowance (made now): 5, 4, 3 minutes, the three at 1 by id, then 0.
    assert seen[1:] == [entries[n].pk for n in (0, 6, 4, 3, 2, 1, 5)]


@pytest.mark.parametrize("before", ["abc", "-3", "0", "1.5", "", "99999999999999999999999999"])
def test_a_bad_cursor_shows_the_newest_page(signed_in: Client, account: Account, before) -> None:
    grant(account, 1, "one")
    html = billing_html(signed_in, f"?before={before}")
    assert [pk for pk, _cells in table(html)] == ledger_ids(account)
    assert 'id="ledger-newest"' not in html


# --- The CSV ------------------------------------------------------------------------------------


def test_the_csv_holds_the_whole_ledger_newest_first(signed_in: Client, account: Account) -> None:
    charge = credits_charge(account=account, cost=5, idempotency_key="t:1", reference="tsk_one")
    refund = credits_refund(charge=charge, note=CHINESE_NOTE)
    set_created_at(refund, datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))

    body, rows = download(signed_in)

    assert body.startswith(BOM + b"created_at,kind,amount,")
    assert rows[0] == HEADER
    assert rows[1] == [
        "2030-01-02T03:04:05Z",
        "refund",
        "5",
        "-5",
        "50",
        "tsk_one",
        CHINESE_NOTE,
    ]
    assert rows[2][1:6] == ["charge", "-5", "5", "45", "tsk_one"]
    assert rows[3][1:] == ["grant", "50", "0", "50", "", "Free allowance on sign-up"]
    assert len(rows) == 4
    assert CHINESE_NOTE.encode() in body  # UTF-8, not an escape or another encoding


def test_the_csv_names_the_account_and_the_day(signed_in: Client, account: Account) -> None:
    response = signed_in.get(reverse("billing_ledger_csv"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.now().strftime("%Y%m%d")
    assert response["Content-Disposition"] == (
        f'attachment; filename="nanobanana-ledger-{account.pk}-{today}.csv"'
    )


@pytest.mark.parametrize(
    ("note", "written"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("a = b", "a = b"),
        ("", ""),
    ],
)
def test_the_csv_defuses_formulas_in_text(
    signed_in: Client, account: Account, note: str, written: str
) -> None:
    grant(account, 1, "x", note=note, reference=note)
    _body, rows = download(signed_in)
    assert rows[1][5:] == [written, written]


def test_the_csv_keeps_negative_numbers_numbers(signed_in: Client, account: Account) -> None:
    credits_set_balance(account=account, balance=20, kind="adjustment", idempotency_key="adj")
    body, rows = download(signed_in)
    assert rows[1][2:5] == ["-30", "0", "20"]
    assert b",-30,0,20," in body


def test_the_csv_streams_over_asgi_too(user: User, account: Account) -> None:
    for n in range(3):
        grant(account, 1, f"g:{n}", note=f"gift {n}")
    async_client = AsyncClient()
    async_client.force_login(user)

    async def fetch() -> tuple[bool, bytes]:
        response = await async_client.get(reverse("billing_ledger_csv"))
        assert response.status_code == 200
        return response.is_async, b"".join([part async for part in response.streaming_content])

    with warnings.catch_warnings():
        # Django warns when it has to read a sync iterator whole to serve it over ASGI.
        warnings.simplefilter("error")
        is_async, body = async_to_sync(fetch)()

    assert is_async
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert [row[6] for row in rows] == [
        "note",
        "gift 2",
        "gift 1",
        "gift 0",
        "Free allowance on sign-up",
    ]
    assert body.startswith(BOM) and body.count(BOM) == 1


def test_the_export_reads_in_chunks_newest_first(account: Account) -> None:
    for n in range(4):
        grant(account, 1, f"c:{n}")
    rows = ledger_rows_for_export(account=account)
    assert not isinstance(rows, list)
    assert [entry.pk for entry in rows] == ledger_ids(account)


# --- Who may see it -----------------------------------------------------------------------------


def test_a_member_gets_403_for_the_billing_page_and_the_csv(
    signed_in: Client, user: User, make_user: Callable[..., User]
) -> None:
    team = join_team_as(Membership.Role.MEMBER, user=user, make_user=make_user)
    grant(team, 7, "team-secret", note="team money")
    work_in(signed_in, team)

    page = signed_in.get(reverse("billing"))
    export = signed_in.get(reverse("billing_ledger_csv"))

    assert page.status_code == 403
    assert export.status_code == 403
    assert "team money" not in page.content.decode()
    assert b"team money" not in export.content


def test_an_admin_reads_the_team_ledger(
    signed_in: Client, user: User, make_user: Callable[..., User]
) -> None:
    team = join_team_as(Membership.Role.ADMIN, user=user, make_user=make_user)
    grant(team, 7, "team-grant", note="team money")
    work_in(signed_in, team)

    assert "team money" in billing_html(signed_in)
    _body, rows = download(signed_in)
    assert rows[1][6] == "team money"
    assert signed_in.get(reverse("billing_ledger_csv"))["Content-Disposition"].startswith(
        f'attachment; filename="nanobanana-ledger-{team.pk}-'
    )


def test_signed_out_visitors_are_sent_to_sign_in(client: Client) -> None:
    response = client.get(reverse("billing_ledger_csv"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_another_accounts_entries_never_appear(
    signed_in: Client, account: Account, make_user: Callable[..., User]
) -> None:
    other = account_create(owner=make_user(email="bob@example.com"))
    theirs = grant(other, 9, "theirs", note="bobs-secret", reference="tsk_bob")
    mine = grant(account, 1, "mine", note="my own")

    html = billing_html(signed_in)
    _body, rows = download(signed_in)
    # Their row's id as the cursor is no cursor here: the newest page, of this account's rows.
    via_their_cursor = billing_html(signed_in, f"?before={theirs.pk}")

    assert [pk for pk, _cells in table(html)] == ledger_ids(account)
    assert mine.pk in [pk for pk, _cells in table(html)]
    assert "bobs-secret" not in html and "tsk_bob" not in html
    assert all("bobs-secret" not in cell and "tsk_bob" not in cell for row in rows for cell in row)
    assert len(rows) == 1 + len(ledger_ids(account))
    assert [pk for pk, _cells in table(via_their_cursor)] == ledger_ids(account)
    assert "tsk_bob" not in via_their_cursor
    assert ledger_page(account=account, before_id=theirs.pk).before_id is None
