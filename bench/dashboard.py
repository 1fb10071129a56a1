"""Benchmark: the dashboard pages' server time for an account with a million tasks and a million
ledger rows, against the same pages of an account with a thousand of each, in the same run.

Run: `.venv/bin/python bench/dashboard.py [--quick] [--rounds N] [--explain] [--strict]`.
PostgreSQL only (DATABASE_URL's server when it is a postgres:// URL, else 127.0.0.1:5432): the
question is what PostgreSQL's plans do at scale. A database of the bench's own
(`nb_bench_dash_<random>`) is created, migrated, filled with server-side
`INSERT ... SELECT generate_series(...)` and dropped on exit, Ctrl-C included.

Server time is Django's whole handling of one GET through the test Client (`Client.get`, after
`force_login`): the middleware (session, user, CSRF, locale...), the view, its selectors and the
template, as the web server runs them, without the HTTP parsing and the network around them.
Each page is timed `--rounds` times, the two accounts' requests alternating; the SQL queries of
one request per page are counted with CaptureQueriesContext.

Goal: p95 < 50 ms on every page at a million rows. Exits 1 when a page answers anything but
200 (or the bench fails); with --strict also when the goal is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.summary import Figure, cpu_model, figures_write, summary_argument  # noqa: E402

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
GOAL_P95_MS = 50.0
DAYS = 60  # tasks and ledger rows are spread over this many days, up to now
PERIOD_DAYS = 29  # the billing period started this long ago: a monthly plan a day before renewal
API_KEYS = 3


@dataclass(frozen=True)
class Size:
    label: str
    rows: int  # tasks, and as many ledger rows


@dataclass
class Tenant:
    size: Size
    account_id: int = 0
    user: object = None
    client: object = None
    deep_task: str = ""  # a public id about half the account's tasks back
    one_task: str = ""  # a completed task near the middle
    deep_ledger: int = 0  # a ledger row id about half the ledger back
    timings: dict[str, list[float]] = field(default_factory=dict)
    queries: dict[str, int] = field(default_factory=dict)
    slowest: dict[str, tuple[float, str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


# The pages, each as a label and the path for a tenant.
PAGES = (
    ("/dashboard", lambda t: "/dashboard"),
    ("/tasks (first page)", lambda t: "/tasks"),
    ("/tasks?starting_after= (half back)", lambda t: f"/tasks?starting_after={t.deep_task}"),
    ("/tasks/<id>", lambda t: f"/tasks/{t.one_task}"),
    ("/billing (ledger first page)", lambda t: "/billing"),
    ("/billing?before= (half back)", lambda t: f"/billing?before={t.deep_ledger}"),
)


# --- the database -------------------------------------------------------------------------------


def server_dsn() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgres") else DEFAULT_POSTGRES


def admin_dsn() -> str:
    return server_dsn().rsplit("/", 1)[0] + "/postgres"


def postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(admin_dsn(), connect_timeout=3):
            return True
    except Exception:
        return False


def database_create() -> str:
    import psycopg

    name = f"nb_bench_dash_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def database_drop(name: str) -> None:
    import psycopg

    with contextlib.suppress(Exception):
        from django.db import connections

        connections.close_all()
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def django_use(database: str) -> None:
    """This process's Django on the bench database, with the test settings; no Redis (the quota
    counters of the dashboard are then in-process), and the test Client's host allowed."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["DATABASE_URL"] = server_dsn().rsplit("/", 1)[0] + f"/{database}"
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
    import django

    django.setup()


# --- the data -----------------------------------------------------------------------------------

TASKS_SQL = """
INSERT INTO imaging_task (
    public_id, account_id, source, api_key_id, submitted_by_id, batch_id, batch_index,
    operation, params, input_files, queue, status, progress, result_files, mask_file,
    description, seed, demo, error_code, error_message, credits, charge_id, attempts,
    lease_expires_at, claimed_by, timings, created_at, started_at, completed_at, files_deleted)
SELECT
    'task_' || substr(md5(%(tag)s || g), 1, 20), %(account)s,
    CASE WHEN r_origin < 0.8 THEN 'api' ELSE 'dashboard' END,
    -- 2 %% of the API's tasks name a key since deleted (SET NULL)
    CASE WHEN r_origin < 0.78
         THEN (%(keys)s::bigint[])[1 + floor(r_origin / 0.78 * cardinality(%(keys)s::bigint[]))]
    END,
    CASE WHEN r_origin >= 0.8 THEN %(user)s::bigint END,
    NULL, 0,
    (%(ops)s::text[])[1 + op], '{"prompt": "a banana on a table", "output_format": "png"}',
    '[]', CASE WHEN op IN (1, 3) THEN 'cpu' ELSE 'gpu' END,
    status, CASE WHEN status = 'completed' THEN 100 ELSE 0 END,
    CASE WHEN status = 'completed' THEN '["results/bench.png"]'::jsonb ELSE '[]' END, '',
    '', NULL, false,
    CASE WHEN status = 'failed' THEN 'engine_error' ELSE '' END,
    CASE WHEN status = 'failed' THEN 'The engine failed.' ELSE '' END,
    (%(costs)s::int[])[1 + op], NULL, CASE WHEN status = 'pending' THEN 0 ELSE 1 END,
    NULL, '', '{"queued_s": 0.05, "run_s": 1.8}', created,
    CASE WHEN status <> 'pending' THEN created + interval '1 second' END,
    CASE WHEN status IN ('completed', 'failed', 'cancelled')
         THEN created + interval '3 seconds' END,
    false
FROM (
    SELECT g, r_origin, op, created,
        CASE WHEN g > %(n)s - 3 THEN 'pending'
             WHEN g > %(n)s - 6 THEN 'processing'
             WHEN r_status < 0.90 THEN 'completed'
             WHEN r_status < 0.97 THEN 'failed'
             ELSE 'cancelled' END AS status
    FROM (
        SELECT g, random() AS r_origin, random() AS r_status,
            floor(random() * cardinality(%(ops)s::text[]))::int AS op,
            now() - make_interval(secs => (%(n)s - g) * %(span)s::float8 / %(n)s) AS created
        FROM generate_series(1, %(n)s) AS g
    ) AS drawn
) AS task
"""

LEDGER_SQL = """
INSERT INTO billing_creditledgerentry (
    account_id, kind, amount, usage, balance_after, idempotency_key, reference, actor_id, note,
    created_at)
SELECT %(account)s, kind,
    CASE kind WHEN 'charge' THEN -cost WHEN 'refund' THEN cost ELSE 10000 END,
    CASE kind WHEN 'charge' THEN cost WHEN 'refund' THEN -cost ELSE 0 END,
    1000000 - g %% 100000, 'bench:' || g,
    CASE WHEN kind = 'grant' THEN '' ELSE 'task_' || substr(md5(%(tag)s || g), 1, 20) END,
    CASE WHEN kind = 'grant' THEN %(user)s::bigint END,
    CASE WHEN kind = 'grant' THEN 'Top-up' ELSE '' END, created
FROM (
    SELECT g, 3 + floor(random() * 6)::int AS cost,
        CASE WHEN g %% 1000 = 0 THEN 'grant' WHEN random() < 0.07 THEN 'refund'
             ELSE 'charge' END AS kind,
        now() - make_interval(secs => (%(n)s - g) * %(span)s::float8 / %(n)s) AS created
    FROM generate_series(1, %(n)s) AS g
) AS entry
"""


def tenant_create(size: Size, index: int) -> Tenant:
    """An owner and their personal account (through the services), API keys, `size.rows` tasks
    and ledger rows over the last DAYS days, and a billing period PERIOD_DAYS old."""
    from django.db import connection
    from django.utils import timezone

    from accounts.services import api_key_issue, user_create, user_personal_account_ensure
    from billing.models import Subscription
    from core.operations import Operation

    user = user_create(email=f"bench{index}@example.com")
    account = user_personal_account_ensure(user=user)
    keys = [api_key_issue(account=account, name=f"key {k + 1}")[0].pk for k in range(API_KEYS)]
    from billing.costs import CREDIT_COSTS

    ops = list(Operation)
    params = {
        "tag": f"{index}:",
        "account": account.pk,
        "user": user.pk,
        "keys": keys,
        "ops": [op.value for op in ops],
        "costs": [CREDIT_COSTS[op] for op in ops],
        "n": size.rows,
        "span": DAYS * 86400,
    }
    with connection.cursor() as cursor:
        cursor.execute(TASKS_SQL, params)
        cursor.execute(LEDGER_SQL, params)
    Subscription.objects.filter(account=account).update(
        last_renewed_at=timezone.now() - timedelta(days=PERIOD_DAYS)
    )
    return Tenant(size=size, account_id=account.pk, user=user)


def cursors_pick(tenant: Tenant) -> None:
    from django.db import connection

    half = tenant.size.rows // 2
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT public_id FROM imaging_task WHERE account_id = %s"
            " ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
            [tenant.account_id, half],
        )
        tenant.deep_task = cursor.fetchone()[0]
        cursor.execute(
            "SELECT public_id FROM imaging_task WHERE account_id = %s AND status = 'completed'"
            " AND api_key_id IS NOT NULL ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
            [tenant.account_id, half],
        )
        tenant.one_task = cursor.fetchone()[0]
        cursor.execute(
            "SELECT id FROM billing_creditledgerentry WHERE account_id = %s"
            " ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
            [tenant.account_id, half],
        )
        tenant.deep_ledger = cursor.fetchone()[0]


def tenants_find(measured: list[Size]) -> list[Tenant]:
    """The measured tenants of a database an earlier run left (--reuse)."""
    from accounts.models import User
    from accounts.services import user_personal_account_ensure

    tenants = []
    for index, size in enumerate(measured):
        user = User.objects.get(email=f"bench{index}@example.com")
        account = user_personal_account_ensure(user=user)
        tenant = Tenant(size=size, account_id=account.pk, user=user)
        cursors_pick(tenant)
        tenants.append(tenant)
    return tenants


def data_load(measured: list[Size], others: Size, other_count: int) -> list[Tenant]:
    from django.db import connection

    tenants = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")  # the same mix of operations and statuses each run
    for index, size in enumerate(measured):
        started = time.perf_counter()
        tenants.append(tenant_create(size, index))
        print(f"  {size.label}: {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    for index in range(other_count):
        tenant_create(others, len(measured) + index)
    print(
        f"  {other_count} other accounts x {others.rows:,}: {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # What autovacuum does to a table that has settled: statistics, and the visibility map
        # that index-only scans need.
        for table in ("imaging_task", "billing_creditledgerentry"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    print(f"  VACUUM (ANALYZE): {time.perf_counter() - started:.0f} s", flush=True)
    for tenant in tenants:
        cursors_pick(tenant)
    return tenants


# --- measuring ----------------------------------------------------------------------------------


def clients_login(tenants: list[Tenant]) -> None:
    from django.test import Client

    for tenant in tenants:
        tenant.client = Client()
        tenant.client.force_login(tenant.user)


def count_queries(tenant: Tenant, label: str, path: str) -> list[dict]:
    """One request with its SQL captured: the count, and the slowest statement."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = tenant.client.get(path)
    if response.status_code != 200:
        tenant.errors.append(f"{label}: GET {path} answered {response.status_code}")
    tenant.queries[label] = len(captured.captured_queries)
    if captured.captured_queries:
        slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
        tenant.slowest[label] = (float(slowest["time"]) * 1000, slowest["sql"])
    return captured.captured_queries


def time_pages(tenants: list[Tenant], rounds: int) -> None:
    """Each page `rounds` times per tenant, the tenants alternating, so that both see the same
    machine (and the same warm caches)."""
    for tenant in tenants:
        for label, _path in PAGES:
            tenant.timings[label] = []
    for _ in range(rounds):
        for label, path in PAGES:
            for tenant in tenants:
                url = path(tenant)
                started = time.perf_counter()
                response = tenant.client.get(url)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    tenant.errors.append(f"{label}: GET {url} answered {response.status_code}")
                tenant.timings[label].append(elapsed)


def rollups_check(tenant: Tenant) -> tuple[bool, float]:
    """Whether the selectors' sums from the rollups equal those read from every task and ledger
    row (the rollups switched off), and how long the raw reads take."""
    from unittest import mock

    from accounts.models import Account
    from billing import selectors as billing
    from imaging import selectors as imaging

    account = Account.objects.get(pk=tenant.account_id)
    since = billing.period_start(subscription=billing.subscription_get(account=account))

    def sums() -> tuple:
        spend = imaging.account_spend_by_origin(account=account, days=30)
        return (
            imaging.account_usage_by_day(account=account, days=30),
            sorted(spend, key=lambda s: (s.source, s.key_name or "", s.key_prefix or "")),
            billing.ledger_usage_since(account=account, since=since),
        )

    kept = sums()
    started = time.perf_counter()
    with (
        mock.patch.object(imaging, "usage_rollups_kept", return_value=False),
        mock.patch.object(billing, "usage_rollups_kept", return_value=False),
    ):
        raw = sums()
    return kept == raw, (time.perf_counter() - started) * 1000


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# --- report -------------------------------------------------------------------------------------


def machine_info() -> str:
    from django.db import connection

    cpu = cpu_model()
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0].split()[0]
        cursor.execute("SHOW shared_buffers")
        buffers = cursor.fetchone()[0]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"PostgreSQL {version} (shared_buffers {buffers}), load average {load}"
    )


def page_figures(baseline: Tenant, large: Tenant, quick: bool) -> list[Figure]:
    """Each page's p95 at the large account against the small one's, for `make bench`'s table."""
    return [
        Figure(
            bench="dashboard",
            figure=f"{label} p95 ms, {large.size.label}",
            ours=percentile(large.timings[label], 95),
            baseline=percentile(baseline.timings[label], 95),
            baseline_name=f"the same page, {baseline.size.label}",
            goal=f"< {GOAL_P95_MS:.0f} ms",
            met=None if quick else percentile(large.timings[label], 95) < GOAL_P95_MS,
        )
        for label, _path in PAGES
    ]


def print_report(baseline: Tenant, large: Tenant, rounds: int) -> bool:
    print()
    print(
        f"Dashboard pages, server time (Django test Client, whole request), {rounds} rounds; "
        f"p50 / p95 ms and SQL queries per request"
    )
    header = (
        f"{'page':<36} {baseline.size.label + ' p50/p95':>26} {'SQL':>4} "
        f"{large.size.label + ' p50/p95':>28} {'SQL':>4} {'slowest SQL ms':>14}  "
        f"{'goal p95 < 50 ms':<16}"
    )
    print(header)
    print("-" * len(header))
    all_met = True
    for label, _path in PAGES:
        cells = []
        for tenant in (baseline, large):
            values = tenant.timings[label]
            cells.append(f"{percentile(values, 50):.1f} / {percentile(values, 95):.1f}")
        met = percentile(large.timings[label], 95) < GOAL_P95_MS
        all_met &= met
        slowest = large.slowest.get(label, (0.0, ""))[0]
        print(
            f"{label:<36} {cells[0]:>26} {baseline.queries[label]:>4} {cells[1]:>28} "
            f"{large.queries[label]:>4} {slowest:>14.1f}  {'yes' if met else 'NO':<16}"
        )
    print("-" * len(header))
    worst = max(PAGES, key=lambda page: percentile(large.timings[page[0]], 95))[0]
    print(
        f"slowest page at {large.size.label}: {worst} "
        f"(p95 {percentile(large.timings[worst], 95):.1f} ms, "
        f"mean {statistics.mean(large.timings[worst]):.1f} ms)"
    )
    return all_met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 rows, 5 rounds (< 60 s)")
    parser.add_argument("--rounds", type=int, default=None, help="requests per page (30)")
    parser.add_argument("--rows", type=int, default=None, help="the large account's rows (10^6)")
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE the large account's slow queries"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    summary_argument(parser)
    parser.add_argument(
        "--keep", action="store_true", help="leave the bench database (its name is printed)"
    )
    parser.add_argument(
        "--reuse",
        metavar="DATABASE",
        help="measure a database that --keep left (migrated first; same --rows, no reload)",
    )
    args = parser.parse_args()
    if args.quick:
        large = Size("2,000 rows", args.rows or 2000)
        baseline, others, other_count = Size("200 rows", 200), Size("", 500), 2
        rounds = args.rounds or 5
    else:
        rows = args.rows or 1_000_000
        large = Size(f"{rows:,} rows", rows)
        baseline, others, other_count = Size("1,000 rows", 1000), Size("", 100_000), 3
        rounds = args.rounds or 30

    if not postgres_reachable():
        print(f"ERROR: PostgreSQL does not answer at {admin_dsn()} (this benchmark needs it)")
        sys.exit(1)
    # Ctrl-C and SIGTERM both unwind through the finally below.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    database = args.reuse or database_create()
    broken = True
    try:
        django_use(database)
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", "--noinput", verbosity=0)
        print(
            f"Dashboard benchmark on database {database} (migrated in "
            f"{time.perf_counter() - started:.0f} s)"
            + ("" if args.reuse else "; loading tasks and ledger rows:"),
            flush=True,
        )
        if args.reuse:
            tenants = tenants_find([baseline, large])
        else:
            tenants = data_load([baseline, large], others, other_count)
        clients_login(tenants)
        small, big = tenants
        for label, path in PAGES:  # one warm-up request per page, its SQL counted
            for tenant in tenants:
                queries = count_queries(tenant, label, path(tenant))
                if args.explain and tenant is big:
                    for query in queries:
                        if float(query["time"]) * 1000 >= 5:
                            print(f"\n--- {label}: {float(query['time']) * 1000:.1f} ms")
                            print(query["sql"])
                            print(explain(query["sql"]))
        time_pages(tenants, rounds)
        met = print_report(small, big, rounds)
        figures_write(args.summary, page_figures(small, big, args.quick))
        equal, raw_ms = rollups_check(big)
        print(
            f"usage rollups equal the sums of the {big.size.label} themselves (30-day usage by "
            f"day, spend by key, ledger usage this period): {'yes' if equal else 'NO'} "
            f"(those raw sums take {raw_ms:.0f} ms)"
        )
        if not equal:
            big.errors.append("the usage rollups differ from the raw sums")
        print(
            f"Data: each account's tasks and ledger rows spread evenly over the last {DAYS} days "
            f"(6 operations, 90 % completed / 7 % failed / 3 % cancelled, 78 % from {API_KEYS} "
            f"API keys, 2 % a deleted key, 20 % the dashboard), {other_count} other accounts with "
            f"{others.rows:,} of each; billing period started {PERIOD_DAYS} days ago; "
            "VACUUM (ANALYZE) after loading."
        )
        print(
            "Changed for the benchmark (no product code): config.settings.test, no REDIS_URL "
            "(in-process quota counters, local-memory cache), DJANGO_ALLOWED_HOSTS=testserver."
        )
        print(f"Machine: {machine_info()}")
        errors = [error for tenant in tenants for error in tenant.errors]
        for error in errors[:10]:
            print(f"ERROR: {error}")
        broken = bool(errors)
    finally:
        if args.keep or args.reuse:
            print(f"Database {database} kept (drop it with: dropdb {database})")
        else:
            database_drop(database)
    sys.exit(1 if broken or (args.strict and not met) else 0)


if __name__ == "__main__":
    main()
