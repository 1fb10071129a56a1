"""The base of every /v1 view: authentication, then the body parsed, idempotency, rate limits."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.idempotency import (
    IDEMPOTENCY_HEADER,
    StoredResponse,
    idempotency_begin,
    idempotency_fingerprint,
    idempotency_release,
    idempotency_store,
)
from billing.ratelimit import request_admit

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class IdempotentReplay(Exception):
    """Raised from `initial` to answer a retried POST with the answer stored for its key."""

    def __init__(self, stored: StoredResponse) -> None:
        self.stored = stored


class ApiView(APIView):
    # Billable operations (the image POSTs) count against the plan's per-minute and daily limits;
    # everything else against a generous read limit, so clients can always poll.
    billable = False

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and permissions first
        request.idempotency_claim_id = None
        if request.method in BODY_METHODS:
            # Parsed now, so a body refused by the parser (api.parsers) costs no request and
            # claims no Idempotency-Key: nothing was validated, nothing was done.
            request.data  # noqa: B018 (the parse is the point)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if request.method == "POST" and key is not None:
            # Before the rate limit: a replay does no work, so it costs no request.
            outcome = idempotency_begin(
                account=request.user.account,
                key=key,
                fingerprint=idempotency_fingerprint(
                    method=request.method, path=request.path, data=request.data
                ),
            )
            if isinstance(outcome, StoredResponse):
                raise IdempotentReplay(outcome)
            request.idempotency_claim_id = outcome.pk
        billable = self.billable and request.method == "POST"
        request.rate_decision = request_admit(account=request.user.account, billable=billable)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, IdempotentReplay):
            return self.replay(exc.stored)
        return super().handle_exception(exc)

    def replay(self, stored: StoredResponse) -> Response:
        response = Response(
            stored.body,
            status=stored.status_code,
            headers={**stored.headers, "Idempotent-Replayed": "true"},
        )
        response.nb_idempotency_claim_id = stored.claim_id
        return response

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        decision = getattr(request, "rate_decision", None)
        if decision is not None:
            for name, value in decision.headers().items():
                response[name] = value
        claim_id = getattr(request, "idempotency_claim_id", None)
        if claim_id is not None:
            if response.status_code < 400:
                idempotency_store(
                    claim_id=claim_id,
                    status_code=response.status_code,
                    body=response.data,
                    headers=response,
                )
                response.nb_idempotency_claim_id = claim_id
            else:
                idempotency_release(claim_id=claim_id)
        return response
