"""Admin keys at rest: Fernet (AES-128-CBC + HMAC-SHA256, from the ``cryptography`` library).

The Fernet key is derived with HKDF-SHA256 from ``COSTWATCH_SECRETS_KEY`` when set, else from
``SECRET_KEY``. Changing that secret makes stored admin keys unreadable (the source then reports
"enter the key again"); nothing else breaks.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretUnreadable(ValueError):
    """The stored key was encrypted with another secret (COSTWATCH_SECRETS_KEY / SECRET_KEY changed)."""


def _fernet() -> Fernet:
    secret = (settings.COSTWATCH_SECRETS_KEY or settings.SECRET_KEY).encode()
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"costwatch-billing", info=b"admin-keys").derive(secret)
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "the stored admin key cannot be decrypted (COSTWATCH_SECRETS_KEY or SECRET_KEY changed); enter it again"
        ) from None
