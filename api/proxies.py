"""The client's address behind the proxies the operator trusts, and nowhere else from a header.

Behind a load balancer every request comes from the balancer: the per-address rate limit and the network
rule of the evidence (search/identity.py) would see one client. A proxy appends the address it received the
request from to `X-Forwarded-For` (or `Forwarded: for=`), but so can any client, so the header is believed
only when the peer is a trusted proxy (`MATCHGRAPH_TRUSTED_PROXIES`, addresses or networks), and then read
from the right: each trusted proxy's entry is skipped and the first address that is not a trusted proxy is
the client (the right-most untrusted address; what a client wrote on the left is never reached). A header
that cannot be read leaves the peer as the client. werkzeug's ProxyFix trusts a fixed number of hops, not a
list, so it cannot tell a trusted hop from a forged one when the path varies.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable

from graph.settings import SettingsError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FOR = re.compile(r'(?:^|;)\s*for\s*=\s*("[^"]*"|[^;,\s]*)', re.I)


def parse_trusted(text: str, where: str = "MATCHGRAPH_TRUSTED_PROXIES") -> tuple[Network, ...]:
    """`10.0.0.1, 10.1.0.0/16, fd00::/8` -> networks; a bad entry is a SettingsError naming it."""
    out = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(f"{where}: {item!r} is not an address or network") from None
    return tuple(out)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from a header entry: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:80`, `"[2001:db8::1]"`."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ip.ipv4_mapped or ip if ip.version == 6 else ip


def hops(header: str, value: str) -> list[str] | None:
    """The addresses a forwarding header lists, left to right; None when one entry is not an address."""
    if header == "forwarded":
        entries = []
        for element in value.split(","):
            m = _FOR.search(element)
            if m is None:
                return None
            entries.append(m.group(1))
    else:
        entries = value.split(",")
    out = []
    for entry in entries:
        ip = _address(entry)
        if ip is None:
            return None
        out.append(str(ip))
    return out


def client_address(peer: str, forwarded: Iterable[str], trusted: tuple[Network, ...], header: str) -> str:
    """The client: the peer itself unless it is a trusted proxy; then, walking the header's addresses from
    the right, the first that is not a trusted proxy (the left-most when all are)."""
    def is_trusted(addr: str) -> bool:
        ip = _address(addr)
        return ip is not None and any(ip in net for net in trusted)

    if not trusted or not is_trusted(peer):
        return peer
    chain = hops(header, ",".join(forwarded))
    if not chain:
        return peer
    for addr in reversed(chain):
        if not is_trusted(addr):
            return addr
    return chain[0]


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR becomes the client address (the peer's is kept in `matchgraph.peer`)."""

    def __init__(self, app: Callable, trusted: tuple[Network, ...], header: str = "x-forwarded-for") -> None:
        self.app, self.trusted, self.header = app, trusted, header
        self.environ_key = "HTTP_FORWARDED" if header == "forwarded" else "HTTP_X_FORWARDED_FOR"

    def __call__(self, environ: dict, start_response: Callable):
        peer = environ.get("REMOTE_ADDR", "")
        environ["matchgraph.peer"] = peer
        value = environ.get(self.environ_key)
        if value is not None and self.trusted:
            environ["REMOTE_ADDR"] = client_address(peer, [value], self.trusted, self.header)
        return self.app(environ, start_response)
