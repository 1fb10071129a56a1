"""The billing app; opens the free plan for every account created."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from accounts.signals import account_created
        from billing import receivers

        account_created.connect(receivers.on_account_created, dispatch_uid="billing.open")
