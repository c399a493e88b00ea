"""People, not tokens (issue 27), the parts without a server: networks (IPv4 /24, IPv6 /48), signed tokens,
the client address behind trusted proxies, what counts as a same-site click, and the hourly bound of new
identities per network. tests/test_attack.py runs the attacks against a real server."""

from __future__ import annotations

import pytest
from flask import Flask, request

from api.navigation import refusal
from api.proxies import TrustedProxies, client_address, parse_trusted
from graph.dedup import Dedup
from graph.settings import SettingsError
from graph.store.sqlite import SQLiteStore
from search.identity import network_of, sign_token, signed_id, who

SECRET = b"k" * 32


def test_ipv6_addresses_group_by_48_and_ipv4_by_24() -> None:
    assert network_of("2001:db8:1:2::5") == network_of("2001:db8:1:ffff:1::9") == "2001:db8:1::/48"
    assert network_of("2001:db8:2::5") != network_of("2001:db8:1::5")
    assert network_of("203.0.113.9") == network_of("203.0.113.200") == "203.0.113.0/24"
    assert network_of("203.0.114.9") != network_of("203.0.113.9")
    assert network_of("::ffff:203.0.113.9") == "203.0.113.0/24"  # IPv4-mapped: its IPv4 network
    assert network_of("fe80::1%eth0") == "fe80::/48"
    assert network_of("2001:db8:1:2::5", v6_prefix=64) == "2001:db8:1:2::/64"  # the settings decide
    # the person key follows the network: two identities of one /48 are one person, of two /48s two
    one, two = who(SECRET, "t1", "2001:db8:1::1"), who(SECRET, "t2", "2001:db8:1:9::1")
    assert one.identity != two.identity and one.person == two.person
    assert who(SECRET, "t3", "2001:db8:7::1").person != one.person


def test_a_signed_token_is_its_own_person_from_any_network() -> None:
    token = sign_token("site-key", "alice")
    assert token.startswith("alice.") and len(token) == len("alice.") + 64
    assert signed_id("site-key", token) == "alice"
    assert signed_id("other-key", token) is None and signed_id("", token) is None
    assert signed_id("site-key", "alice." + "0" * 64) is None and signed_id("site-key", "alice") is None
    here, there = (who(SECRET, token, addr, site_secret="site-key") for addr in ("10.0.0.1", "192.0.2.1"))
    assert here.person == there.person and here.signed and here.network == ""
    bob = who(SECRET, sign_token("site-key", "bob"), "10.0.0.1", site_secret="site-key")
    assert bob.person != here.person  # two signed users on one network: two people
    unsigned = who(SECRET, token, "10.0.0.1")  # without the site secret configured: the network rule
    assert not unsigned.signed and unsigned.person == who(SECRET, "x", "10.0.0.2").person
    with pytest.raises(ValueError):
        sign_token("site-key", "has.dot")


def test_forwarding_headers_are_believed_only_from_trusted_proxies() -> None:
    trusted = parse_trusted("10.0.0.1, 10.9.0.0/16, fd00::/8")
    xff = "x-forwarded-for"
    assert client_address("10.0.0.1", ["198.51.100.7"], trusted, xff) == "198.51.100.7"
    # right-most untrusted: what a client wrote on the left is never reached
    assert client_address("10.0.0.1", ["6.6.6.6, 198.51.100.7"], trusted, xff) == "198.51.100.7"
    assert client_address("10.0.0.1", ["6.6.6.6, 198.51.100.7, 10.9.3.3"], trusted, xff) == "198.51.100.7"
    assert client_address("203.0.113.5", ["198.51.100.7"], trusted, xff) == "203.0.113.5"  # untrusted peer
    assert client_address("10.0.0.1", ["not-an-address"], trusted, xff) == "10.0.0.1"
    assert client_address("10.0.0.1", ["10.9.1.1, 10.0.0.1"], trusted, xff) == "10.9.1.1"  # all trusted
    assert client_address("fd00::5", ['for="[2001:db8::1]:4711";proto=https'], trusted,
                          "forwarded") == "2001:db8::1"
    assert client_address("10.0.0.1", ["for=192.0.2.60;by=10.0.0.1, for=198.51.100.7"], trusted,
                          "forwarded") == "198.51.100.7"
    assert client_address("10.0.0.1", ["198.51.100.7:5555"], trusted, xff) == "198.51.100.7"
    assert client_address("10.0.0.1", ["198.51.100.7"], (), xff) == "10.0.0.1"  # no proxies: no header
    with pytest.raises(SettingsError, match="MATCHGRAPH_TRUSTED_PROXIES"):
        parse_trusted("10.0.0.1, proxy.example")

    app = Flask(__name__)

    @app.get("/")
    def addr():
        return request.remote_addr

    app.wsgi_app = TrustedProxies(app.wsgi_app, trusted)
    c = app.test_client()
    assert c.get("/", headers={"X-Forwarded-For": "198.51.100.7"},
                 environ_base={"REMOTE_ADDR": "10.0.0.1"}).text == "198.51.100.7"
    assert c.get("/", headers={"X-Forwarded-For": "198.51.100.7"},
                 environ_base={"REMOTE_ADDR": "203.0.113.5"}).text == "203.0.113.5"


@pytest.mark.parametrize(("method", "headers", "ok"), [
    ("GET", {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "document"}, True),
    ("GET", {"Referer": "http://localhost/?q=x"}, True),  # an older browser: its Referer decides
    ("HEAD", {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "document"}, False),
    ("GET", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"}, False),
    ("GET", {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "image"}, False),
    ("GET", {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Dest": "document"}, False),
    ("GET", {"Sec-Fetch-Site": "none", "Sec-Fetch-Dest": "document"}, False),  # typed or bookmarked
    ("GET", {"Referer": "https://evil.example/"}, False),
    ("GET", {}, False),
])
def test_what_counts_as_a_person_following_a_link(method, headers, ok) -> None:
    app = Flask(__name__)
    with app.test_request_context("/click", method=method, headers=headers):
        assert (refusal(request) == "") is ok, refusal(request)


def test_new_identities_per_network_per_hour_are_bounded_and_a_token_keeps_its_home(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    dedup = Dedup(store)
    now = 1_000_000.0
    admitted = [dedup.place("net-a", f"id-{i}", 20, now) for i in range(25)]
    assert admitted[:20] == ["net-a"] * 20 and admitted[20:] == [None] * 5
    assert dedup.place("net-a", "id-3", 20, now + 10) == "net-a"  # known: still admitted
    assert dedup.place("net-a", "id-22", 20, now + 10) is None  # over the bound stays over, this hour
    assert dedup.place("net-b", "id-99", 20, now) == "net-b"  # another network has its own bound
    assert dedup.place("net-a", "id-22", 20, now + 3600) == "net-a"  # a new hour
    assert dedup.place("net-c", "id-3", 20, now) == "net-a"  # one token from another network: its home
    assert dedup.place("net-d", "id-x", 0, now) == "net-d"  # 0: no bound
    store.close()
