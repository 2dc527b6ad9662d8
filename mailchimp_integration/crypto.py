"""Encryption at rest for the Mailchimp API key entered in the admin (Fernet, with key rotation).

The keys, newest first: MAILCHIMP_ENCRYPTION_KEYS when set, then SECRET_KEY and each of
SECRET_KEY_FALLBACKS. The first one encrypts; decryption tries them all, so a store that
rotates SECRET_KEY (the old one kept in SECRET_KEY_FALLBACKS) or moves to MAILCHIMP_ENCRYPTION_KEYS
still reads its stored key. `reencrypt` moves a token onto the first key, after which the old
one can be dropped.
"""
from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class UndecryptableSecret(Exception):
    """None of the encryption keys in force opens the stored key."""

    def __init__(self):
        if getattr(settings, "MAILCHIMP_ENCRYPTION_KEYS", []):
            cause = (
                "MAILCHIMP_ENCRYPTION_KEYS was changed. Keep the old key in that list, after "
                "the new one"
            )
        else:
            cause = "the site's SECRET_KEY was changed. Put the old one in SECRET_KEY_FALLBACKS"
        super().__init__(
            f"The stored Mailchimp API key cannot be decrypted: {cause}, or enter the API key "
            "again."
        )


@lru_cache(maxsize=16)
def _fernet(master: str) -> Fernet:
    # A key of its own, derived so that a leaked token says nothing about SECRET_KEY.
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"mailchimp-integration",
        info=b"mailchimp api key at rest",
    ).derive(master.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def master_keys() -> list[str]:
    """Every key in force, the one that encrypts first, without repeats."""
    keys = [
        *getattr(settings, "MAILCHIMP_ENCRYPTION_KEYS", []),
        settings.SECRET_KEY,
        *getattr(settings, "SECRET_KEY_FALLBACKS", []),
    ]
    return list(dict.fromkeys(key for key in keys if key))


def _multi_fernet() -> MultiFernet:
    return MultiFernet([_fernet(master) for master in master_keys()])


def encrypt(plaintext: str) -> str:
    return _multi_fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _multi_fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise UndecryptableSecret() from error


def reencrypt(token: str) -> str:
    """The same secret, encrypted with the first key in force."""
    try:
        return _multi_fernet().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise UndecryptableSecret() from error


def mask(api_key: str) -> str:
    """`••••••••1234-us6`: the last 4 characters before the data centre, and the data centre."""
    if not api_key:
        return ""
    secret, dash, data_centre = api_key.rpartition("-")
    if not dash:
        secret, data_centre = api_key, ""
    tail = secret[-4:] if len(secret) >= 12 else ""
    return "•" * 8 + tail + (f"-{data_centre}" if data_centre else "")
