"""Serves stored results through signed, expiring URLs (embedded mode; S3 presigns its own)."""

import mimetypes

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from imaging.storage import file_name_from_token


@require_GET
def file_serve(request: HttpRequest, token: str) -> FileResponse:
    name = file_name_from_token(token=token)
    if name is None or not default_storage.exists(name):
        raise Http404("No such file, or its link has expired")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(default_storage.open(name, "rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
