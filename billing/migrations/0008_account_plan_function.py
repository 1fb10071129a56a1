# The plan an account is on, as a PostgreSQL function: its subscription's plan, else the free
# plan. The charge's one statement (billing.selectors.ACCOUNT_PLAN_SQL) and the task claim's
# function (imaging 0010) both call it, so the rule is written once in SQL; account_plan is the
# same rule through the ORM, and tests/billing/test_charge_statement.py holds them together.
# PostgreSQL only: SQLite runs the ORM paths.

from django.db import migrations

INSTALL = """
CREATE FUNCTION billing_account_plan_id(account bigint, free_plan text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT s.plan_id FROM billing_subscription AS s WHERE s.account_id = account),
        (SELECT free.id FROM billing_plan AS free WHERE free.code = free_plan))
$$;
"""
UNINSTALL = "DROP FUNCTION IF EXISTS billing_account_plan_id(bigint, text);"


def function_install(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def function_uninstall(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNINSTALL, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0007_ledger_usage_rollup")]

    operations = [migrations.RunPython(function_install, function_uninstall)]
