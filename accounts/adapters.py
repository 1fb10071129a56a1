"""django-allauth glue: every sign-up gets its personal Account in the same step."""

from allauth.account.adapter import DefaultAccountAdapter

from accounts.services import account_create


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            account_create(owner=user)
        return user
