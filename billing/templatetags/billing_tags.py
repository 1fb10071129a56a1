"""Billing facts other apps' pages show (accounts may not import billing; templates may)."""

from django import template

from accounts.models import Account
from billing.selectors import BillingSummary, account_billing_summary

register = template.Library()


@register.simple_tag
def billing_summary(account: Account) -> BillingSummary:
    return account_billing_summary(account=account)
