"""An ORM lookup compiled once and run many times, for the hottest reads.

Django builds a query's SQL, and its plan for turning rows into model instances
(`select_related` included), on every call. For API-key authentication, a join of four tables
that runs on every /v1 request, that building cost more server CPU than the query and the
instances together (bench/api.py, docs/benchmarks.md). A `PreparedLookup` builds both once per
process from an ordinary queryset and then only runs the statement and builds the instances,
with Django's own row converters and related-object populators, so the instances are the ones
the queryset would give.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]
from django.db.models.sql.compiler import SQLCompiler

M = TypeVar("M", bound=Model)

# Stand in for the lookup's value while the SQL is built, and are found again among its
# parameters: one for text values, one for integers (ids).
TEXT_PLACEHOLDER = "\x1eprepared-lookup-value\x1e"
INTEGER_PLACEHOLDER = -7_301_945_226_183_514_893


@dataclass(frozen=True)
class _Plan:
    db: str
    sql: str
    params: tuple[Any, ...]
    value_at: int  # the value's position among the parameters
    compiler: SQLCompiler
    converters: dict[int, Any]  # turn raw values into the fields' Python values (by column)
    model: type[Model]
    init_list: list[str]
    start: int
    end: int
    populators: list[Any]


class PreparedLookup(Generic[M]):
    """`lookup.get(value)` is the first instance of `queryset_for(value)` (None when no row
    matches) and `lookup.all(value)` all of them, for a queryset that filters on one value;
    `queryset_for` is called once, with `placeholder` (TEXT_PLACEHOLDER or INTEGER_PLACEHOLDER,
    by the value's type)."""

    def __init__(
        self, queryset_for: Callable[[Any], QuerySet[M]], *, placeholder: object = TEXT_PLACEHOLDER
    ) -> None:
        self._queryset_for = queryset_for
        self._placeholder = placeholder
        self._plan: _Plan | None = None
        self._lock = threading.Lock()

    def get(self, value: object) -> M | None:
        rows = self._rows(value, first=True)
        return rows[0] if rows else None

    def all(self, value: object) -> list[M]:
        """Every instance of `queryset_for(value)`, in its order."""
        return self._rows(value, first=False)

    def _rows(self, value: object, *, first: bool) -> list[M]:
        plan = self._plan or self._prepare()
        params = list(plan.params)
        params[plan.value_at] = value
        with connections[plan.db].cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchmany(1) if first else cursor.fetchall()
        if plan.converters:
            rows = list(plan.compiler.apply_converters(rows, plan.converters))
        return [self._instance(plan, row) for row in rows]

    @staticmethod
    def _instance(plan: _Plan, row: Any) -> M:
        obj = plan.model.from_db(plan.db, plan.init_list, row[plan.start : plan.end])
        for populator in plan.populators:
            populator.populate(row, obj)
        return obj  # type: ignore[return-value]

    def _prepare(self) -> _Plan:
        with self._lock:
            if self._plan is None:
                queryset = self._queryset_for(self._placeholder)
                compiler = queryset.query.get_compiler(using=queryset.db)
                sql, params = compiler.as_sql()  # also fills select and klass_info
                (value_at,) = [i for i, p in enumerate(params) if p == self._placeholder]
                klass_info = compiler.klass_info
                assert klass_info is not None
                fields = klass_info["select_fields"]
                start, end = fields[0], fields[-1] + 1
                columns = [col[0] for col in compiler.select[: compiler.col_count]]
                assert not compiler.has_composite_fields(columns)
                self._plan = _Plan(
                    db=queryset.db,
                    sql=sql,
                    params=tuple(params),
                    value_at=value_at,
                    compiler=compiler,
                    converters=compiler.get_converters(columns),
                    model=klass_info["model"],
                    init_list=[col[0].target.attname for col in compiler.select[start:end]],
                    start=start,
                    end=end,
                    populators=get_related_populators(klass_info, compiler.select, queryset.db),
                )
            return self._plan
