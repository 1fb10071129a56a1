"""The /v1 endpoints: thin classes that call one selector or service and render the reference."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import account_owner
from api.base import ApiView
from billing.selectors import ALLOWED_IMAGE_FORMATS, account_billing_summary


class AccountApi(ApiView):
    """GET /v1/account: who is calling, their plan, credits and limits."""

    class AccountOutputSerializer(serializers.Serializer):
        class SubscriptionSerializer(serializers.Serializer):
            plan = serializers.CharField()
            status = serializers.CharField()
            expires_at = serializers.DateTimeField(allow_null=True)

        class CreditsSerializer(serializers.Serializer):
            balance = serializers.IntegerField()
            used_this_month = serializers.IntegerField()
            last_renewed = serializers.DateTimeField(allow_null=True)
            unlimited = serializers.BooleanField(
                help_text="True on plans without a credit limit (Max): nothing is debited, "
                "`balance` is not a limit and `used_this_month` still counts usage."
            )

        class UsageLimitsSerializer(serializers.Serializer):
            max_images_per_request = serializers.IntegerField()
            max_file_size_mb = serializers.IntegerField()
            allowed_formats = serializers.ListField(child=serializers.CharField())

        user_id = serializers.CharField()
        email = serializers.EmailField()
        subscription = SubscriptionSerializer()
        credits = CreditsSerializer()
        usage_limits = UsageLimitsSerializer()

    @extend_schema(
        responses=AccountOutputSerializer, operation_id="account_retrieve", summary="Account"
    )
    def get(self, request: Request) -> Response:
        account = request.user.account
        summary = account_billing_summary(account=account)
        owner = account_owner(account=account)
        data = {
            "user_id": owner.public_id if owner else "",
            "email": owner.email if owner else "",
            "subscription": {
                "plan": summary.plan.code,
                "status": summary.status,
                "expires_at": summary.expires_at,
            },
            "credits": {
                "balance": summary.balance,
                "used_this_month": summary.used_this_month,
                "last_renewed": summary.last_renewed,
                "unlimited": summary.plan.is_unlimited,
            },
            "usage_limits": {
                "max_images_per_request": summary.plan.max_batch_images,
                "max_file_size_mb": summary.plan.max_file_size_mb,
                "allowed_formats": list(ALLOWED_IMAGE_FORMATS),
            },
        }
        return Response(self.AccountOutputSerializer(data).data)
