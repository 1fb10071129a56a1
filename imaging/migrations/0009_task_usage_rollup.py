# The dashboard's 30-day usage chart and spend table summed ~500k tasks of a busy account on
# every view (0.7 s + 0.4 s at a million tasks, bench/dashboard.py; an index-only scan of a
# covering index still took 0.4 s). TaskUsageRollup holds the same sums per UTC hour and per UTC
# day, kept by triggers in the transaction that writes each task, so the selectors add up ~2k
# rows plus the tasks of the window's first, partial hour.
#
# PostgreSQL only: on SQLite a later migration that rebuilds imaging_task (most field changes do)
# would silently drop the triggers, so there the table stays empty and the selectors read tasks.
# Installing takes imaging_task's SHARE ROW EXCLUSIVE lock (writes wait) until the backfill of
# the existing tasks has committed: no task is counted twice or missed.

import django.db.models.deletion
import django.db.models.functions.comparison
import django.db.models.manager
from django.db import migrations, models

# What a task spent: a failed or cancelled task's credits were refunded.
SPENT = "CASE WHEN {t}.status IN ('failed', 'cancelled') THEN 0 ELSE {t}.credits END"
# Each task counts once in its UTC hour and once in its UTC day (date_trunc's names: UsageSpan).
SPANS = "(VALUES ('hour'), ('day')) AS s(span)"
START = "date_trunc(s.span, {t}.created_at, 'UTC')"
KEY = "(account_id, span, start, operation, source, (COALESCE(api_key_id, 0)))"
COLUMNS = "account_id, span, start, operation, source, api_key_id, tasks, credits"
SAME_ROW = """kept.account_id = {t}.account_id AND kept.span = s.span
        AND kept.start = {start} AND kept.operation = {t}.operation AND kept.source = {t}.source
        AND COALESCE(kept.api_key_id, 0) = COALESCE({t}.api_key_id, 0)"""
ADD_UP = """ON CONFLICT {key}
    DO UPDATE SET tasks = kept.tasks + EXCLUDED.tasks, credits = kept.credits + EXCLUDED.credits"""


def _sums(table: str) -> str:
    """The rows of `table` (imaging_task or a transition table) summed per rollup row."""
    return f"""
        SELECT t.account_id, s.span, {START.format(t="t")} AS start, t.operation, t.source,
               t.api_key_id, count(*) AS tasks, sum({SPENT.format(t="t")}) AS credits
        FROM {table} AS t CROSS JOIN {SPANS} GROUP BY 1, 2, 3, 4, 5, 6"""


INSTALL = f"""
CREATE FUNCTION imaging_task_usage_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO imaging_taskusagerollup AS kept ({COLUMNS})
    SELECT * FROM ({_sums("added")}) AS sums ORDER BY 1, 2, 3, 4, 5, 6
    {ADD_UP.format(key=KEY)};
    RETURN NULL;
END $$;

CREATE FUNCTION imaging_task_usage_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE imaging_taskusagerollup AS kept
    SET tasks = kept.tasks - gone.tasks, credits = kept.credits - gone.credits
    FROM ({_sums("removed")}) AS gone
    WHERE kept.account_id = gone.account_id AND kept.span = gone.span
        AND kept.start = gone.start AND kept.operation = gone.operation
        AND kept.source = gone.source
        AND COALESCE(kept.api_key_id, 0) = COALESCE(gone.api_key_id, 0);
    RETURN NULL;
END $$;

-- One row changed what it counts for (it failed or was cancelled, its key was deleted...): its
-- share leaves the rollup rows it was in and joins those it now belongs to.
CREATE FUNCTION imaging_task_usage_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE imaging_taskusagerollup AS kept
    SET tasks = kept.tasks - 1, credits = kept.credits - {SPENT.format(t="OLD")}
    FROM {SPANS}
    WHERE {SAME_ROW.format(t="OLD", start=START.format(t="OLD"))};
    INSERT INTO imaging_taskusagerollup AS kept ({COLUMNS})
    SELECT NEW.account_id, s.span, {START.format(t="NEW")}, NEW.operation, NEW.source,
           NEW.api_key_id, 1, {SPENT.format(t="NEW")}
    FROM {SPANS} ORDER BY 2
    {ADD_UP.format(key=KEY)};
    RETURN NULL;
END $$;

-- Statement triggers for inserts and deletes: a bulk statement sums its rows once.
CREATE TRIGGER imaging_task_usage_added AFTER INSERT ON imaging_task
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION imaging_task_usage_added();
CREATE TRIGGER imaging_task_usage_removed AFTER DELETE ON imaging_task
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION imaging_task_usage_removed();
-- A row trigger for updates, filtered in WHEN: claims, progress, completions and lease renewals
-- (most updates) change nothing counted and never call the function.
CREATE TRIGGER imaging_task_usage_moved AFTER UPDATE ON imaging_task FOR EACH ROW
    WHEN (OLD.account_id IS DISTINCT FROM NEW.account_id
        OR OLD.created_at IS DISTINCT FROM NEW.created_at
        OR OLD.operation IS DISTINCT FROM NEW.operation
        OR OLD.source IS DISTINCT FROM NEW.source
        OR OLD.api_key_id IS DISTINCT FROM NEW.api_key_id
        OR {SPENT.format(t="OLD")} IS DISTINCT FROM {SPENT.format(t="NEW")})
    EXECUTE FUNCTION imaging_task_usage_moved();

INSERT INTO imaging_taskusagerollup ({COLUMNS}) {_sums("imaging_task")};
"""

UNINSTALL = """
DROP TRIGGER IF EXISTS imaging_task_usage_added ON imaging_task;
DROP TRIGGER IF EXISTS imaging_task_usage_removed ON imaging_task;
DROP TRIGGER IF EXISTS imaging_task_usage_moved ON imaging_task;
DROP FUNCTION IF EXISTS imaging_task_usage_added();
DROP FUNCTION IF EXISTS imaging_task_usage_removed();
DROP FUNCTION IF EXISTS imaging_task_usage_moved();
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
        ('imaging', '0008_task_origin'),
    ]

    operations = [
        migrations.CreateModel(
            name='TaskUsageRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('span', models.CharField(choices=[('hour', 'Hour'), ('day', 'Day')], max_length=8)),
                ('start', models.DateTimeField()),
                ('operation', models.CharField(choices=[('image_edit', 'Image edit'), ('remove_background', 'Background removal'), ('text_to_image', 'Text to image'), ('enhance', 'Enhance'), ('style_transfer', 'Style transfer'), ('batch_edit', 'Batch edit (per image)')], max_length=32)),
                ('source', models.CharField(choices=[('api', 'API'), ('dashboard', 'Dashboard')], max_length=16)),
                ('tasks', models.IntegerField(default=0)),
                ('credits', models.BigIntegerField(default=0)),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.account')),
                ('api_key', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.apikey')),
            ],
            options={
                'abstract': False,
                'default_manager_name': 'unscoped_objects',
                'constraints': [models.UniqueConstraint(models.F('account'), models.F('span'), models.F('start'), models.F('operation'), models.F('source'), django.db.models.functions.comparison.Coalesce(models.F('api_key'), models.Value(0), output_field=models.BigIntegerField()), name='task_usage_rollup_key')],
            },
            managers=[
                ('unscoped_objects', django.db.models.manager.Manager()),
            ],
        ),
        migrations.RunPython(triggers_install, triggers_uninstall),
    ]
