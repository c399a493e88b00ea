"""Who searched: a pseudonymous user key per request, like Algolia's userToken.

Clients send `user_token` (a first-party random id the pages keep in localStorage). When it is
absent the key falls back to a keyed hash (HMAC-SHA256 with a server secret) of client address and
User-Agent. Neither the token nor the address is stored raw: the store only ever sees the user
key, an HMAC under the server secret, so a leaked log cannot be joined back to addresses or tokens
without the secret. Rotating the secret starts every user afresh (dedup windows and distinct-user
counts restart), so it is kept in the data dir when the operator does not set one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from pathlib import Path

log = logging.getLogger(__name__)

TOKEN_MAX = 128
TOKEN_PATTERN = r"^[A-Za-z0-9._:=+/-]{1,128}$"
_TOKEN = re.compile(TOKEN_PATTERN)
HMAC_KEY_FILE = "user-" + "secret"  # in the data dir; created once, mode 0600


def valid_token(token: str) -> bool:
    """1-128 characters of letters, digits and `._:=+/-` (what random ids and UUIDs use)."""
    return bool(_TOKEN.match(token))


def user_key(secret: bytes, token: str | None = None, address: str | None = None, agent: str | None = None) -> str:
    """The key a user's events carry: `t` + HMAC of the token, or `a` + HMAC of address and User-Agent."""
    if token:
        kind, raw = "t", "t\x1f" + token
    else:
        kind, raw = "a", "a\x1f" + (address or "") + "\x1f" + (agent or "")
    return kind + hmac.new(secret, raw.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def load_secret(configured: str, data_dir: Path) -> bytes:
    """The configured secret, else one random secret per data dir, created once and shared by every worker
    (O_EXCL, so concurrent first starts agree on one). Hosts sharing Redis must configure the same secret."""
    if configured:
        return configured.encode("utf-8")
    path = Path(data_dir) / HMAC_KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
            fh.flush()
            os.fsync(fh.fileno())
        log.info("created a user-key secret in %s (set MATCHGRAPH_USER_SECRET to share one across hosts)", path)
    for _ in range(100):  # another worker may be between creating and writing it
        value = path.read_text().strip()
        if value:
            return value.encode("utf-8")
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it or set MATCHGRAPH_USER_SECRET")
