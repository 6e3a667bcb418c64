"""Personal data: mainland mobile numbers validated, encrypted at rest, masked, hashed for limits.

Numbers are encrypted with Fernet (``cryptography``; AES-128-CBC + HMAC-SHA256) under the keys of the
``data_keys`` setting, newest first, through :class:`cryptography.fernet.MultiFernet`: the first key
encrypts, every key decrypts. Rotation: put a new key first, run ``skillcircle signup rotate-keys``
(re-encrypts every stored number with the first key), then drop the old key. Without configured keys
a key file is created once under ``var/keys/`` (mode 0600) so that a fresh ``make serve`` works; a real
deployment sets ``SKILLCIRCLE_DATA_KEYS`` and ``SKILLCIRCLE_SECRET_KEY`` from its secret store.

Limits and duplicate checks use a keyed hash (HMAC-SHA256 under ``secret_key``) of the number or the
IP address, never the plain value. Nothing here logs a number.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from geo.config import get_settings
from geo.errors import InvalidParameterError, SkillCircleError

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_SEPARATORS = re.compile(r"[\s\-()（）]")


def _key_file(name: str, make: Callable[[], str]) -> str:
    path = Path(get_settings().var_dir) / "keys" / name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        # staged in a file of this writer's own (mode 0600): threads of one process share a pid
        fd, staged = tempfile.mkstemp(prefix=f".{name}.", dir=path.parent)
        tmp = Path(staged)
        with os.fdopen(fd, "w") as fh:
            fh.write(make())
        try:
            os.link(tmp, path)  # atomic, and never replaces a key another process wrote first
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


@cache
def secret_key() -> bytes:
    """The server secret (``secret_key`` setting, else ``var/keys/secret.key`` created once)."""
    configured = get_settings().secret_key
    if configured:
        return configured.encode("utf-8")
    return _key_file("secret.key", lambda: os.urandom(32).hex()).encode("utf-8")


@cache
def _fernet() -> MultiFernet:
    keys = get_settings().data_keys or [_key_file("data.key", lambda: Fernet.generate_key().decode())]
    try:
        return MultiFernet([Fernet(k.encode("utf-8")) for k in keys])
    except ValueError as exc:
        msg = "a data key is not a valid Fernet key (32 url-safe base64-encoded bytes)"
        raise SkillCircleError(msg, message_zh="数据加密密钥格式不正确", code="bad_data_key", status=500) from exc


def reset_keys() -> None:
    """Forget cached keys (after the settings changed, e.g. in tests or a rotation)."""
    secret_key.cache_clear()
    _fernet.cache_clear()


def keyed_hash(value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of ``value`` under the server secret, separated by ``purpose`` (hex)."""
    return hmac.new(secret_key(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def normalise_mobile(text: str | None) -> str:
    """The 11 digits of a mainland China mobile number (``+86 138-0013-8000`` → ``13800138000``).

    Raises
    ------
    InvalidParameterError
        ``invalid_mobile`` when the text is not a mainland mobile number (11 digits starting 13–19).
    """
    raw = _SEPARATORS.sub("", text or "")
    for prefix in ("+86", "0086", "86"):
        if raw.startswith(prefix) and len(raw) == len(prefix) + 11:
            raw = raw[len(prefix) :]
            break
    if not _MOBILE.match(raw):
        msg = "not a mainland China mobile number (11 digits starting with 13–19)"
        raise InvalidParameterError(
            msg, message_zh="请填写正确的中国大陆手机号码（以 13–19 开头的 11 位数字）", code="invalid_mobile"
        )
    return raw


def mask_mobile(number: str) -> str:
    """``13800138000`` → ``138****8000``."""
    return f"{number[:3]}****{number[-4:]}" if len(number) == 11 else "****"


def encrypt(text: str) -> str:
    """Encrypt with the newest data key."""
    return _fernet().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """Decrypt with any configured data key ("" for an erased value)."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        msg = "a stored number cannot be decrypted with the configured data keys (was a key dropped too early?)"
        raise SkillCircleError(
            msg, message_zh="无法解密已存储的号码：数据密钥不匹配", code="bad_data_key", status=500
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` with the newest data key."""
    return _fernet().rotate(token.encode("ascii")).decode("ascii") if token else token
