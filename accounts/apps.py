"""The accounts app: users, accounts (tenants), memberships and API keys."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"
