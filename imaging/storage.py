"""Where inputs and results live: Django's storage API, and unguessable, expiring URLs to them."""

from __future__ import annotations

import io
import secrets

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

_URL_SALT = "imaging.file"


def image_save(*, folder: str, account_id: int, image: Image.Image, fmt: str = "png") -> str:
    """Store `image` under a random name; transparent images are always PNG."""
    fmt = "png" if image.mode in {"RGBA", "LA"} or fmt == "png" else "jpeg"
    buffer = io.BytesIO()
    if fmt == "jpeg":
        image.convert("RGB").save(buffer, "JPEG", quality=92, optimize=True)
    else:
        image.save(buffer, "PNG", optimize=False)
    name = f"{folder}/{account_id}/{secrets.token_urlsafe(24)}.{'jpg' if fmt == 'jpeg' else 'png'}"
    return default_storage.save(name, ContentFile(buffer.getvalue()))


def image_open(*, name: str) -> Image.Image:
    with default_storage.open(name, "rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    return image


def file_url(*, name: str) -> str:
    """An absolute URL that expires: presigned by S3, or signed by us and served by the app."""
    if getattr(default_storage, "querystring_auth", False):
        return default_storage.url(name)
    token = signing.dumps(name, salt=_URL_SALT)
    return settings.SITE_URL.rstrip("/") + reverse("file", kwargs={"token": token})


def file_name_from_token(*, token: str) -> str | None:
    try:
        return signing.loads(token, salt=_URL_SALT, max_age=settings.RESULT_URL_TTL_SECONDS)
    except signing.BadSignature:  # also SignatureExpired
        return None
