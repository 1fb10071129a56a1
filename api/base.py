"""The base of every /v1 view: authentication, then the account's rate limits, then the view."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.ratelimit import request_admit


class ApiView(APIView):
    # Billable operations (the image POSTs) count against the plan's per-minute and daily limits;
    # everything else against a generous read limit, so clients can always poll.
    billable = False

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and permissions first
        billable = self.billable and request.method == "POST"
        request.rate_decision = request_admit(account=request.user.account, billable=billable)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        decision = getattr(request, "rate_decision", None)
        if decision is not None:
            for name, value in decision.headers().items():
                response[name] = value
        return response
