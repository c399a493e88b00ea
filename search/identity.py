"""Who searched: a pseudonymous identity per request (like Algolia's userToken) and the person it counts as.

Two keys per request (`Who`): the *identity* owns the searches it made (only it may give feedback on them)
and the *person* is whose weight its evidence carries. Identities are free to mint, so an unsigned one
counts as the person of its network (an IPv4 /24, an IPv6 /48: `network_of`): every identity seen from one
network shares one person's weight (docs/evidence.md says what that costs a campus behind one address).
A site that knows its users signs their tokens with a site secret (`sign_token`, an HMAC like Algolia's
secured user tokens): a signed token is one person wherever it comes from.

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
import ipaddress
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

TOKEN_MAX = 128
TOKEN_PATTERN = r"^[A-Za-z0-9._:=+/-]{1,128}$"
_TOKEN = re.compile(TOKEN_PATTERN)
HMAC_KEY_FILE = "user-" + "secret"  # in the data dir; created once, mode 0600
SIGNED_ID_PATTERN = r"[A-Za-z0-9_:=+/-]{1,63}"
_SIGNED = re.compile(rf"^({SIGNED_ID_PATTERN})\.([0-9a-f]{{64}})$")


@dataclass(frozen=True)
class Who:
    """A request's keys (all keyed hashes): `identity` owns its searches, `person` carries its evidence,
    `network` (empty for a signed token) is what new identities are bounded per."""

    identity: str
    person: str
    network: str = ""

    @property
    def signed(self) -> bool:
        return self.person.startswith("s")


def network_of(address: str | None, v4_prefix: int = 24, v6_prefix: int = 48) -> str:
    """The network an address belongs to, as text (`203.0.113.0/24`, `2001:db8:1::/48`); an IPv4-mapped
    IPv6 address is its IPv4 address; something that is not an address is returned as it is."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return address or ""
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = v4_prefix if ip.version == 4 else v6_prefix
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def sign_token(site_secret: str, user_id: str) -> str:
    """The signed `user_token` of a site's user: `<user id>.<hex HMAC-SHA256(site secret, user id)>`.
    The user id is 1-63 characters of letters, digits and `_:=+/-` (no dot). What the site's server
    computes (never the browser: the secret must not leave the server)."""
    if not re.fullmatch(SIGNED_ID_PATTERN, user_id):
        raise ValueError("user id: 1-63 characters of letters, digits and _:=+/-")
    mac = hmac.new(site_secret.encode("utf-8"), user_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{user_id}.{mac}"


def signed_id(site_secret: str, token: str | None) -> str | None:
    """The user id of a token signed with `site_secret`, else None (no secret, unsigned or a bad MAC)."""
    if not site_secret or not token:
        return None
    m = _SIGNED.match(token)
    if m is None:
        return None
    want = hmac.new(site_secret.encode("utf-8"), m.group(1).encode("utf-8"), hashlib.sha256).hexdigest()
    return m.group(1) if hmac.compare_digest(want, m.group(2)) else None


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


def who(secret: bytes, token: str | None = None, address: str | None = None, agent: str | None = None, *,
        site_secret: str = "", v4_prefix: int = 24, v6_prefix: int = 48) -> Who:
    """The keys of a request: a token signed by the site is its own person; any other identity (a token,
    else address + User-Agent) counts as the person of its network."""
    identity = user_key(secret, token, address, agent)
    site_user = signed_id(site_secret, token)
    if site_user is not None:
        key = "s" + hmac.new(secret, ("s\x1f" + site_user).encode("utf-8"), hashlib.sha256).hexdigest()[:24]
        return Who(identity, key, "")
    network = hmac.new(secret, ("n\x1f" + network_of(address, v4_prefix, v6_prefix)).encode("utf-8"),
                       hashlib.sha256).hexdigest()[:24]
    return Who(identity, "n" + network, network)


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
