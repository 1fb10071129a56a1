# A task's claim (imaging.services.task_claim) as one PostgreSQL function: lock the account's
# row, read the task, check its lease, attempts and the plan's concurrency cap, lease it. Called
# as one statement outside a transaction, so the account's lock is held for the function's own
# microseconds; as five statements from Python each claim held it across five round trips, and
# the other worker processes' claims of a busy account queued behind it (bench/queueing.py).
#
# Each statement of a VOLATILE PL/pgSQL function takes a fresh snapshot under READ COMMITTED:
# the task and the running count are read after the lock was granted, so they see every claim
# committed before it. Outcomes are services.ClaimResult's values, plus 'exhausted' (out of
# attempts: the caller fails the task, with its refund). PostgreSQL only: SQLite runs the
# Python claim.

from django.db import migrations

INSTALL = """
CREATE FUNCTION imaging_task_claim(
    task bigint, claim text, now timestamptz, lease_end timestamptz, max_attempts integer,
    free_plan text
) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    owner bigint;
    found_task imaging_task%ROWTYPE;
    cap integer;
    running integer;
BEGIN
    SELECT a.id INTO owner FROM accounts_account AS a
    WHERE a.id = (SELECT t.account_id FROM imaging_task AS t WHERE t.id = task) FOR UPDATE;
    IF owner IS NULL THEN
        RETURN 'gone';
    END IF;
    SELECT * INTO found_task FROM imaging_task AS t WHERE t.id = task;
    IF NOT FOUND THEN
        RETURN 'gone';
    END IF;
    IF found_task.status = 'processing'
            AND NOT coalesce(found_task.lease_expires_at < now, false) THEN
        IF claim <> '' AND claim = found_task.claimed_by THEN
            RETURN 'leased';
        END IF;
        RETURN 'gone';
    END IF;
    IF found_task.status NOT IN ('pending', 'processing') THEN
        RETURN 'gone';
    END IF;
    IF found_task.attempts >= max_attempts THEN
        RETURN 'exhausted';
    END IF;
    SELECT p.max_concurrent_tasks INTO cap FROM billing_plan AS p
    WHERE p.id = billing_account_plan_id(owner, free_plan);
    SELECT count(*) INTO running FROM imaging_task AS t
    WHERE t.account_id = owner AND t.status = 'processing' AND t.lease_expires_at >= now
        AND t.id <> task;
    IF running >= cap THEN
        RETURN 'busy';
    END IF;
    UPDATE imaging_task AS t SET status = 'processing', started_at = now,
        attempts = found_task.attempts + 1, progress = 0, lease_expires_at = lease_end,
        claimed_by = claim
    WHERE t.id = task;
    RETURN 'claimed';
END
$$;
"""
UNINSTALL = (
    "DROP FUNCTION IF EXISTS "
    "imaging_task_claim(bigint, text, timestamptz, timestamptz, integer, text);"
)


def function_install(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def function_uninstall(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNINSTALL, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0009_task_usage_rollup"),
        ("billing", "0008_account_plan_function"),
    ]

    operations = [migrations.RunPython(function_install, function_uninstall)]
