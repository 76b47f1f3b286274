"""The key that anchors the audit chain outside the database.

The hash chain alone only convinces against someone who cannot rewrite the table: a database
owner can disable the append-only triggers, edit an event and recompute every later hash, and
the chain verifies again. Each event therefore also carries an HMAC-SHA256 of its hash under a
key that never enters the database or the repository: ``KEJIN_AUDIT_KEY``, or a key file named
by ``KEJIN_AUDIT_KEY_FILE``. Whoever rewrites the table without the key cannot make new MACs.

A MAC is stored as ``<key id>:<hex>``. The key id is derived from the key itself (nobody can
label a key wrongly), so keys can rotate: a key file holds the signing key on its first line and
retired keys below it, and verification picks each event's key by its id.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from kejin.access.settings import get_service_settings
from kejin.errors import Problem, ValidationError

#: Shortest key accepted: 32 characters (``kejin audit keygen`` writes 64 hex digits, 256 bits).
MIN_KEY_CHARS = 32
KID_CHARS = 16


def key_id(key: bytes) -> str:
    """A short, stable name of ``key`` that reveals nothing usable about it.

    >>> key_id(b"k" * 32) == key_id(b"k" * 32) and len(key_id(b"k" * 32)) == 16
    True
    """
    return hashlib.sha256(b"kejin-audit-key-id\0" + key).hexdigest()[:KID_CHARS]


@dataclass(frozen=True)
class Keyring:
    """The keys this process knows: the first signs new MACs, all of them verify old ones."""

    keys: dict[str, bytes] = field(default_factory=dict)
    signing: str | None = None

    @property
    def keyed(self) -> bool:
        return self.signing is not None

    def mac(self, message: str) -> str | None:
        """``<kid>:<hmac>`` of ``message`` under the signing key; ``None`` when unkeyed."""
        if self.signing is None:
            return None
        return f"{self.signing}:{_hmac(self.keys[self.signing], message)}"

    def check(self, message: str, mac: str) -> bool | None:
        """Whether ``mac`` is this message's MAC; ``None`` when its key is not known here."""
        kid, _, value = mac.partition(":")
        key = self.keys.get(kid)
        if key is None:
            return None
        return hmac.compare_digest(_hmac(key, message), value)


def _hmac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def keyring_of(keys: list[str]) -> Keyring:
    """A keyring of ``keys`` (signing key first); refuses short keys, naming which one."""
    ring: dict[str, bytes] = {}
    for i, k in enumerate(keys, 1):
        if len(k) < MIN_KEY_CHARS:
            raise ValidationError(
                "审计密钥太短",
                "audit key too short",
                [
                    Problem(
                        f"密钥至少需{MIN_KEY_CHARS}个字符（kejin audit keygen 可生成）",
                        f"a key needs at least {MIN_KEY_CHARS} characters "
                        "(kejin audit keygen makes one)",
                        row=i,
                        field="audit_key",
                        value=f"{len(k)} chars",
                    )
                ],
            )
        ring.setdefault(key_id(k.encode()), k.encode())
    return Keyring(ring, key_id(keys[0].encode()) if keys else None)


def read_key_file(path: Path) -> list[str]:
    """The keys of a key file: one a line, the signing key first; blank and ``#`` lines skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValidationError(
            "无法读取审计密钥文件",
            "cannot read the audit key file",
            [
                Problem(
                    "KEJIN_AUDIT_KEY_FILE 指向的文件不可读",
                    f"the file named by KEJIN_AUDIT_KEY_FILE is unreadable: {e.strerror}",
                    file=str(path),
                    field="audit_key_file",
                )
            ],
        ) from None
    keys = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not keys:
        raise ValidationError(
            "审计密钥文件中没有密钥",
            "the audit key file holds no key",
            [Problem("文件为空", "empty file", file=str(path), field="audit_key_file")],
        )
    return keys


@lru_cache(maxsize=4)
def _load(secret: str | None, path: str | None, _version: tuple[int, ...] | None) -> Keyring:
    if secret and path:
        raise ValidationError(
            "审计密钥只能有一个来源",
            "the audit key must come from one place only",
            [
                Problem(
                    "KEJIN_AUDIT_KEY 与 KEJIN_AUDIT_KEY_FILE 同时设置，请只保留一个",
                    "both KEJIN_AUDIT_KEY and KEJIN_AUDIT_KEY_FILE are set: keep one",
                    field="audit_key",
                )
            ],
        )
    if path:
        return keyring_of(read_key_file(Path(path)))
    return keyring_of([secret.strip()] if secret else [])


def current() -> Keyring:
    """The keyring of this process's settings.

    The key file is read again when it changes, so a rotation (``kejin audit keygen --rotate``)
    takes effect in every running process at its next append, without a restart.
    """
    s = get_service_settings()
    secret = s.audit_key.get_secret_value() if s.audit_key else None
    path = str(s.audit_key_file) if s.audit_key_file else None
    version = None
    if path:
        try:  # a rotation replaces the file: a new inode and time
            st = os.stat(path)
            version = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            pass  # _load reports the unreadable file
    return _load(secret, path, version)


def generate(path: Path, rotate: bool = False) -> tuple[str, bool]:
    """Write a new random key to ``path`` (mode 0600); return its id and whether it was written.

    An existing file is kept as it is unless ``rotate``: then the new key is put on the first line
    and the old keys stay below it, so events signed with them still verify.
    """
    new = secrets.token_hex(32)
    old = read_key_file(path) if path.exists() else []
    if old and not rotate:
        return key_id(old[0].encode()), False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# kejin audit keys: the first signs, the others only verify. Never commit.\n")
        f.write("\n".join([new, *old]) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return key_id(new.encode()), True
