# "Used this period" (ledger_usage_since, for /dashboard, /billing and /v1/account) summed every
# ledger row of the period: 0.13 s for a busy account's ~500k rows (bench/dashboard.py; an
# index-only scan of a covering index still took 60 ms). LedgerUsageRollup holds the same sums
# per UTC hour and per UTC day, kept by triggers in the transaction that writes each row, so the
# selector adds up ~50 rows plus those of the period's first, partial hour.
#
# PostgreSQL only: on SQLite a later migration that rebuilds the ledger table would silently
# drop the triggers, so there the table stays empty and the selector reads the ledger.
# Installing takes the ledger's SHARE ROW EXCLUSIVE lock (writes wait) until the backfill of
# the existing rows has committed: no row is counted twice or missed.

import django.db.models.deletion
import django.db.models.manager
from django.db import migrations, models

# Each row counts once in its UTC hour and once in its UTC day (date_trunc's names: UsageSpan).
SPANS = "(VALUES ('hour'), ('day')) AS s(span)"
START = "date_trunc(s.span, {t}.created_at, 'UTC')"
ADD_UP = "ON CONFLICT (account_id, span, start) DO UPDATE SET usage = kept.usage + EXCLUDED.usage"


def _sums(table: str) -> str:
    return f"""
        SELECT t.account_id, s.span, {START.format(t="t")} AS start, sum(t.usage) AS usage
        FROM {table} AS t CROSS JOIN {SPANS} GROUP BY 1, 2, 3"""


INSTALL = f"""
CREATE FUNCTION billing_ledger_usage_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO billing_ledgerusagerollup AS kept (account_id, span, start, usage)
    SELECT * FROM ({_sums("added")}) AS sums ORDER BY 1, 2, 3
    {ADD_UP};
    RETURN NULL;
END $$;

CREATE FUNCTION billing_ledger_usage_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE billing_ledgerusagerollup AS kept SET usage = kept.usage - gone.usage
    FROM ({_sums("removed")}) AS gone
    WHERE kept.account_id = gone.account_id AND kept.span = gone.span
        AND kept.start = gone.start;
    RETURN NULL;
END $$;

-- Ledger rows are never updated; should one be, its usage moves with it.
CREATE FUNCTION billing_ledger_usage_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE billing_ledgerusagerollup AS kept SET usage = kept.usage - OLD.usage
    FROM {SPANS}
    WHERE kept.account_id = OLD.account_id AND kept.span = s.span
        AND kept.start = {START.format(t="OLD")};
    INSERT INTO billing_ledgerusagerollup AS kept (account_id, span, start, usage)
    SELECT NEW.account_id, s.span, {START.format(t="NEW")}, NEW.usage FROM {SPANS} ORDER BY 2
    {ADD_UP};
    RETURN NULL;
END $$;

-- Statement triggers for inserts and deletes: a bulk statement sums its rows once.
CREATE TRIGGER billing_ledger_usage_added AFTER INSERT ON billing_creditledgerentry
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION billing_ledger_usage_added();
CREATE TRIGGER billing_ledger_usage_removed AFTER DELETE ON billing_creditledgerentry
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION billing_ledger_usage_removed();
CREATE TRIGGER billing_ledger_usage_moved AFTER UPDATE ON billing_creditledgerentry FOR EACH ROW
    WHEN (OLD.account_id IS DISTINCT FROM NEW.account_id
        OR OLD.created_at IS DISTINCT FROM NEW.created_at
        OR OLD.usage IS DISTINCT FROM NEW.usage)
    EXECUTE FUNCTION billing_ledger_usage_moved();

INSERT INTO billing_ledgerusagerollup (account_id, span, start, usage)
{_sums("billing_creditledgerentry")};
"""

UNINSTALL = """
DROP TRIGGER IF EXISTS billing_ledger_usage_added ON billing_creditledgerentry;
DROP TRIGGER IF EXISTS billing_ledger_usage_removed ON billing_creditledgerentry;
DROP TRIGGER IF EXISTS billing_ledger_usage_moved ON billing_creditledgerentry;
DROP FUNCTION IF EXISTS billing_ledger_usage_added();
DROP FUNCTION IF EXISTS billing_ledger_usage_removed();
DROP FUNCTION IF EXISTS billing_ledger_usage_moved();
"""


def triggers_install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL)


def triggers_uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNINSTALL)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_invitation'),
        ('billing', '0006_usage_alert'),
    ]

    operations = [
        migrations.CreateModel(
            name='LedgerUsageRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('span', models.CharField(choices=[('hour', 'Hour'), ('day', 'Day')], max_length=8)),
                ('start', models.DateTimeField()),
                ('usage', models.BigIntegerField(default=0)),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.account')),
            ],
            options={
                'abstract': False,
                'default_manager_name': 'unscoped_objects',
                'constraints': [models.UniqueConstraint(fields=('account', 'span', 'start'), name='ledger_usage_rollup_key')],
            },
            managers=[
                ('unscoped_objects', django.db.models.manager.Manager()),
            ],
        ),
        migrations.RunPython(triggers_install, triggers_uninstall),
    ]
