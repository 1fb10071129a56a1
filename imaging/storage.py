"""Where inputs and results live: Django's storage API, and unguessable, expiring URLs to them."""

from __future__ import annotations

import base64
import io
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils.crypto import salted_hmac
from PIL import Image

# Separates the link key from every other use of SECRET_KEY.
_LINK_KEY_SALT = "imaging.storage.file-link-key"


# Results are JPEG unless a request asks for PNG (the API's `output_format`).
OUTPUT_FORMATS = ("jpeg", "png")
DEFAULT_OUTPUT_FORMAT = "jpeg"


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
    """An absolute URL that expires after RESULT_URL_TTL_SECONDS: on S3 a presigned URL of the
    bucket's own, handed to clients as it is (the reference's result URLs point at storage);
    else a link token of ours, served by `/files/<token>`."""
    if getattr(default_storage, "querystring_auth", False):
        return default_storage.url(name, expire=settings.RESULT_URL_TTL_SECONDS)
    token = _link_keys().encrypt(name.encode()).decode("ascii")
    return settings.SITE_URL.rstrip("/") + reverse("file", kwargs={"token": token})


def file_name_from_token(*, token: str) -> str | None:
    """The stored name a link token stands for; None when it was altered, made with another key
    or is older than RESULT_URL_TTL_SECONDS."""
    try:
        name = _link_keys().decrypt(token.encode("ascii"), ttl=settings.RESULT_URL_TTL_SECONDS)
    except (InvalidToken, UnicodeError):
        return None
    return name.decode()


def _link_keys() -> MultiFernet:
    """Link tokens are Fernet tokens (AES-CBC with an HMAC over everything, and the time made):
    the name, which holds the account id and the storage path, is encrypted, so a link reveals
    only when it was issued. The keys are derived from SECRET_KEY, then each of
    SECRET_KEY_FALLBACKS: links made before a key rotation keep working until they expire."""
    secret_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([Fernet(_link_key(secret_key)) for secret_key in secret_keys])


def _link_key(secret_key: str) -> bytes:
    digest = salted_hmac(_LINK_KEY_SALT, "file links", secret=secret_key, algorithm="sha256")
    return base64.urlsafe_b64encode(digest.digest())
