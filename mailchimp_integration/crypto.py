"""Encryption at rest for the Mailchimp API key entered in the admin (Fernet)."""
from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class UndecryptableSecret(Exception):
    """The stored key was encrypted with another MAILCHIMP_ENCRYPTION_KEY / SECRET_KEY."""


@lru_cache(maxsize=4)
def _fernet(master: str) -> Fernet:
    # A key of its own, derived so that a leaked token says nothing about SECRET_KEY.
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"mailchimp-integration",
        info=b"mailchimp api key at rest",
    ).derive(master.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _master_key() -> str:
    return getattr(settings, "MAILCHIMP_ENCRYPTION_KEY", "") or settings.SECRET_KEY


def encrypt(plaintext: str) -> str:
    return _fernet(_master_key()).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(_master_key()).decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise UndecryptableSecret(
            "the stored Mailchimp API key cannot be decrypted (was SECRET_KEY or "
            "MAILCHIMP_ENCRYPTION_KEY changed?); enter it again"
        ) from error


def mask(api_key: str) -> str:
    """`••••••••1234-us6`: the last 4 characters before the data centre, and the data centre."""
    if not api_key:
        return ""
    secret, dash, data_centre = api_key.rpartition("-")
    if not dash:
        secret, data_centre = api_key, ""
    tail = secret[-4:] if len(secret) >= 12 else ""
    return "•" * 8 + tail + (f"-{data_centre}" if data_centre else "")
