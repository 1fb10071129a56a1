"""Dashboard forms for accounts."""

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership

EXPIRY_CHOICES = [
    ("", _("Never")),
    ("30", _("In 30 days")),
    ("90", _("In 90 days")),
    ("365", _("In a year")),
]


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, initial="Default")
    expires_in_days = forms.ChoiceField(label=_("Expires"), choices=EXPIRY_CHOICES, required=False)

    def expires_at(self) -> datetime | None:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=int(days)) if days else None


class TeamCreateForm(forms.Form):
    name = forms.CharField(label=_("Team name"), max_length=150)


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("Email"))
    role = forms.ChoiceField(label=_("Role"), choices=Membership.Role.choices,
                             initial=Membership.Role.MEMBER)  # fmt: skip

    def __init__(self, *args: Any, actor: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if actor.role != Membership.Role.OWNER:  # only owners make owners
            self.fields["role"].choices = [
                c for c in Membership.Role.choices if c[0] != Membership.Role.OWNER
            ]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
