"""Credentials at rest (push destinations' passwords and SSH keys): Fernet (AES-128-CBC + HMAC-SHA256).

Keys come from OCX_CREDENTIALS_KEY, comma-separated Fernet keys: the first encrypts, every one
decrypts, so a key is rotated by putting the new one first (and `manage.py` re-saving is not needed
until the old one is dropped). Unset, the key is derived from DJANGO_SECRET_KEY: then changing the
secret key makes the stored credentials unreadable (they must be typed again).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _fernet() -> MultiFernet:
    keys = [key.strip() for key in settings.OCX_CREDENTIALS_KEY.split(",") if key.strip()]
    if not keys:
        digest = hashlib.sha256(b"opencentrex-credentials:" + settings.SECRET_KEY.encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "OCX_CREDENTIALS_KEY must be Fernet keys (32 url-safe base64 bytes each), comma-separated; "
            'make one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
        ) from exc


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode() if secret else ""


def decrypt(token: str) -> str:
    """The clear secret; a clear error when no configured key opens it."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored credential cannot be decrypted with OCX_CREDENTIALS_KEY (key changed?): enter it again."
        ) from exc
