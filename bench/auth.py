"""Benchmark: CPU cost of API-key authentication per request, against the same view without it.

Run: `make bench` (or `.venv/bin/python bench/auth.py [--quick] [--requests N] [--rounds N]`).
Uses a throw-away test database (SQLite by default, PostgreSQL when DATABASE_URL is set). Target:
authentication adds < 0.2 ms of CPU per request beyond its one indexed lookup; a miss exits 1,
except with `--quick` (200 requests x 3 rounds, seconds), which checks that the bench runs and
prints the verdict without acting on it: so few calls on a shared machine decide nothing.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.contrib.auth.hashers import PBKDF2PasswordHasher  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from rest_framework.permissions import AllowAny  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.test import APIRequestFactory  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from accounts.selectors import api_key_get_by_digest  # noqa: E402
from accounts.services import api_key_digest, api_key_issue, user_create  # noqa: E402
from api.authentication import ApiKeyAuthentication, HasApiKey  # noqa: E402
from bench.summary import Figure, figures_write, summary_argument  # noqa: E402

TARGET_EXTRA_MS = 0.2


class PlainView(APIView):
    """The same trivial view three ways: open, open plus the key lookup, behind our auth."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class LookupOnlyView(PlainView):
    """No authentication, but the same indexed query authentication makes."""

    digest = ""

    def get(self, request: Request) -> Response:
        assert api_key_get_by_digest(digest=self.digest) is not None
        return Response({"ok": True})


class AuthenticatedView(PlainView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]


def cpu_ms_per_call(
    variants: dict[str, Callable[[], object]], calls: int, rounds: int
) -> dict[str, float]:
    """Median over rounds of process CPU ms per call; variants take turns within each round so
    that drift on a shared machine hits them alike."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():
        for _ in range(min(calls, 200)):
            fn()  # warm caches, the connection and the ORM
    for _ in range(rounds):
        for name, fn in variants.items():
            gc.collect()
            started = time.process_time()
            for _ in range(calls):
                fn()
            samples[name].append((time.process_time() - started) * 1000 / calls)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 requests x 3 rounds")
    parser.add_argument("--requests", type=int, default=None, help="requests per round (2000)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (7)")
    summary_argument(parser)
    args = parser.parse_args()
    args.requests = args.requests or (200 if args.quick else 2000)
    args.rounds = args.rounds or (3 if args.quick else 7)

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        user = user_create(email="bench@example.com")
        account = user.memberships.get().account
        _key, raw_key = api_key_issue(account=account, name="bench")
        digest = api_key_digest(raw_key)
        factory = APIRequestFactory()
        header = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}
        views = {
            "plain": PlainView.as_view(),
            "lookup": LookupOnlyView.as_view(digest=digest),
            "authed": AuthenticatedView.as_view(),
        }

        def caller(view: Callable) -> Callable[[], None]:
            def call() -> None:
                assert view(factory.get("/v1/bench", **header)).status_code == 200

            return call

        # What a key store built on password hashers would run per request.
        pbkdf2 = PBKDF2PasswordHasher()
        encoded = pbkdf2.encode(raw_key, pbkdf2.salt())

        n, rounds = args.requests, args.rounds
        times = cpu_ms_per_call({name: caller(view) for name, view in views.items()}, n, rounds)
        t_hasher = cpu_ms_per_call({"pbkdf2": lambda: pbkdf2.verify(raw_key, encoded)}, 5, 3)
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)

    lookup = times["lookup"] - times["plain"]
    beyond_lookup = times["authed"] - times["lookup"]
    rows = [
        ("view without authentication (baseline)", times["plain"]),
        ("same view + the key lookup query, no auth", times["lookup"]),
        ("same view with Bearer API-key authentication", times["authed"]),
        ("  added by authentication in all", times["authed"] - times["plain"]),
        ("  of which: the one indexed lookup (ORM + DB)", lookup),
        ("  of which: everything else (parse, SHA-256, checks)", beyond_lookup),
        ("contrast: one password-hasher check (PBKDF2)", t_hasher["pbkdf2"]),
    ]
    print(
        f"API-key authentication on {connection.vendor}: {n} requests x {rounds} rounds, "
        "median CPU ms per request"
    )
    print(f"{'measurement':<56} {'ms':>9}")
    print("-" * 66)
    for label, value in rows:
        print(f"{label:<56} {value:>9.4f}")
    verdict = "PASS" if beyond_lookup < TARGET_EXTRA_MS else "FAIL"
    print("-" * 66)
    print(f"target: < {TARGET_EXTRA_MS} ms beyond the lookup -> {beyond_lookup:.4f} ms {verdict}")
    if args.quick:
        print("(--quick: too few calls to judge the target; the exit code ignores it)")
    figures_write(
        args.summary,
        [
            Figure(
                bench="auth",
                figure=f"CPU ms per request with API-key authentication ({connection.vendor})",
                ours=times["authed"],
                baseline=times["lookup"],
                baseline_name="same view + the key lookup, no authentication",
                goal=f"< baseline + {TARGET_EXTRA_MS} ms",
                met=None if args.quick else verdict == "PASS",
            )
        ],
    )
    sys.exit(0 if verdict == "PASS" or args.quick else 1)


if __name__ == "__main__":
    main()
