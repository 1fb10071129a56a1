"""Seed the plans of the API reference ("Limits and quotas"); staff edit them in admin afterwards."""

from django.db import migrations

PLANS = [
    # code, name, monthly credits (None = unlimited), per minute, per day, MB, batch, concurrent, cents
    ("free", "Free", 50, 2, 50, 5, 2, 1, 0),
    ("basic", "Basic", 500, 3, 300, 5, 3, 2, 900),
    ("pro", "Pro", 2000, 5, 1000, 10, 5, 4, 2900),
    ("max", "Max", None, 10, 5000, 20, 20, 8, 9900),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for order, (code, name, credits, rpm, rpd, mb, batch, concurrent, cents) in enumerate(PLANS):
        Plan.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "monthly_credits": credits,
                "requests_per_minute": rpm,
                "requests_per_day": rpd,
                "max_file_size_mb": mb,
                "max_batch_images": batch,
                "max_concurrent_tasks": concurrent,
                "price_usd_cents": cents,
                "sort_order": order,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
