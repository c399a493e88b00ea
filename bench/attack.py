"""Attacks on the evidence, run against a real server as an attacker would run them (issue 27).

    python -m bench.attack [--base http://127.0.0.1:8000]   # a running server (loopback, see below)
    python -m bench.attack --serve                          # starts `python -m api serve` on a temp data dir

Each attack prints how far it moved its target (ranks, learned ranker on) and the Popular searches list.
Clients bind loopback source addresses 127.x.y.z, which stand for networks: 127.a.b.0/24 is one network,
so the server must listen on loopback. tests/test_attack.py runs every attack and asserts its check:

- minted: 30 identities (new token and User-Agent each) from one network search and upvote a target;
- roaming: one token sent from 30 networks does the same;
- people: 6 people on 6 networks choose one result (it must move up) and search one query (Popular);
- batch: one feedback batch carrying a crowd of tokens, and feedback on another identity's search;
- clicks: HEAD, cross-site image and link-from-elsewhere requests to /click;
- signed: a site-signed token from 6 networks, and 5 signed tokens from one network;
- proxy: clients behind a trusted proxy, and a forged X-Forwarded-For from an untrusted peer.
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from bench.servers import ApiServe

ROOT = Path(__file__).resolve().parent.parent
K = 20
TARGET_RANK = 8  # the result an attacker pushes (1-based, in the top K of the query)
SITE_SECRET = secrets.token_hex(16)  # what --serve configures (a new one per run); a real site keeps its own
PROXY = "127.250.0.1"  # the trusted proxy --serve configures


class SourceAdapter(HTTPAdapter):
    """Connections from one local source address (a client on a network of its own)."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def client(source: str, agent: str = "attack-bench/1") -> requests.Session:
    s = requests.Session()
    adapter = SourceAdapter(source)
    s.mount("http://", adapter)
    s.headers["User-Agent"] = agent
    return s


@dataclass
class Outcome:
    name: str
    moved: int = 0  # ranks the target rose (positive: up)
    popular: bool = False  # the attack's query reached Popular searches
    refused: list[str] = field(default_factory=list)  # "status code: message" of what was refused
    stored: int = 0  # feedback events stored by the refused requests (must be 0)
    note: str = ""


class Bench:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.local = client("127.0.0.1")
        self.sent: set[str] = set()  # every token, User-Agent and client address sent: none may reach the disk

    # --- reads ---------------------------------------------------------------------------------------
    def ranking(self, q: str) -> list[str]:
        """The top K as a fresh visitor sees it (learning on, nothing recorded)."""
        r = self.local.get(f"{self.base}/v1/search", params={"q": q, "k": K, "record": "false"}, timeout=60)
        r.raise_for_status()
        return [x["artifact_id"] for x in r.json()["results"]]

    def popular(self) -> list[str]:
        r = self.local.get(f"{self.base}/v1/analytics/popular", params={"limit": 50}, timeout=30)
        r.raise_for_status()
        return [i["query"] for i in r.json()["items"]]

    def feedback_count(self) -> int:
        return int(self.local.get(f"{self.base}/v1/analytics/summary", timeout=30).json()["feedback"])

    # --- writes --------------------------------------------------------------------------------------
    def search(self, s: requests.Session, q: str, token: str | None, headers: dict | None = None) -> dict:
        params = {"q": q, "k": K, **({"user_token": token} if token else {})}
        self._note(s, token, headers)
        r = s.get(f"{self.base}/v1/search", params=params, headers=headers or {}, timeout=60)
        r.raise_for_status()
        return r.json()

    def _note(self, s: requests.Session, token: str | None, headers: dict | None) -> None:
        self.sent.update(x for x in (token, s.headers.get("User-Agent"), s.get_adapter("http://x").source,
                                     *(h.split(",")[0] for k, h in (headers or {}).items()
                                       if k == "X-Forwarded-For")) if x and x != "127.0.0.1")

    def vote(self, s: requests.Session, sid: str, artifact: str, token: str | None, event: str = "upvote",
             headers: dict | None = None) -> requests.Response:
        self._note(s, token, headers)
        body = {"search_id": sid, "artifact_id": artifact, "event": event,
                **({"user_token": token} if token else {})}
        return s.post(f"{self.base}/v1/feedback", json=body, headers=headers or {}, timeout=30)

    def choose(self, q: str, sessions: list[tuple[requests.Session, str | None, dict]], target: str) -> None:
        """Each (session, token, headers) searches `q`, then clicks and upvotes `target` on its own search."""
        for s, token, headers in sessions:
            found = self.search(s, q, token, headers)
            for event in ("click", "upvote"):
                self.vote(s, found["search_id"], target, token, event, headers)

    def push(self, name: str, q: str, sessions: list[tuple[requests.Session, str | None, dict]]) -> Outcome:
        """The result at TARGET_RANK of `q` chosen by every session: how far it moved, and whether `q` is
        now on Popular searches."""
        before = self.ranking(q)
        target = before[TARGET_RANK - 1]
        self.choose(q, sessions, target)
        after = self.ranking(q)
        now = after.index(target) + 1 if target in after else K + 1
        return Outcome(name, TARGET_RANK - now, q in self.popular(),
                       note=f"{target}: rank {TARGET_RANK} -> {now}")

    # --- the attacks ---------------------------------------------------------------------------------
    def minted(self, n: int = 30) -> Outcome:
        """n identities minted on one network: new token and User-Agent each, addresses 127.77.0.x."""
        sessions = [(client(f"127.77.0.{i + 1}", f"agent-{secrets.token_hex(4)}"), secrets.token_hex(16), {})
                    for i in range(n)]
        out = self.push("30 identities minted on one network", "extract named entities from text", sessions)
        spam = "best deals at evil-example dot com"
        for s, token, _ in sessions:
            self.search(s, spam, token)
        out.popular = out.popular or spam in self.popular()
        return out

    def roaming(self, n: int = 30) -> Outcome:
        """One token sent from n networks (127.80+i.0.1)."""
        token = secrets.token_hex(16)
        sessions = [(client(f"127.{80 + i}.0.1"), token, {}) for i in range(n)]
        return self.push("one token from 30 networks", "translate english text to german", sessions)

    def people(self, n: int = 6) -> Outcome:
        """n people, each on a network of its own (127.60+i.0.1), choose one result and search one query."""
        sessions = [(client(f"127.{60 + i}.0.1"), secrets.token_hex(16), {}) for i in range(n)]
        out = self.push("6 people on 6 networks", "answer questions about a passage of text", sessions)
        q = "detect objects in photographs"
        for s, token, _ in sessions:
            self.search(s, q, token)
        out.popular = q in self.popular()
        return out

    def batch(self) -> Outcome:
        """A crowd of tokens in one feedback batch; feedback on another identity's search."""
        out = Outcome("batch crowd and someone else's search")
        s = client("127.90.0.1")
        owner = secrets.token_hex(16)
        found = self.search(s, "find the answer to a question in a passage", owner)  # the small catalog serves it
        target = found["results"][-1]["artifact_id"]
        before = self.feedback_count()
        events = [{"search_id": found["search_id"], "artifact_id": target, "event": "upvote",
                   "user_token": secrets.token_hex(16)} for _ in range(50)]
        r = s.post(f"{self.base}/v1/feedback:batch", json={"events": events}, timeout=30)
        out.refused.append(f"batch of 50 tokens: {r.status_code} {_said(r)}")
        r = self.vote(client("127.91.0.1"), found["search_id"], target, secrets.token_hex(16))
        out.refused.append(f"another identity's search: {r.status_code} {_said(r)}")
        r = self.vote(s, found["search_id"], target, None)  # same client, but not the token that searched
        out.refused.append(f"same address without the token: {r.status_code}")
        out.stored = self.feedback_count() - before
        return out

    def clicks(self) -> Outcome:
        """Clicks fired without a person following a link: HEAD, a cross-site image, a link from elsewhere."""
        out = Outcome("clicks not made on this site")
        s = client("127.92.0.1")
        token = secrets.token_hex(16)
        found = self.search(s, "extractive question answering on a text passage", token)
        params = {"search_id": found["search_id"], "artifact_id": found["results"][-1]["artifact_id"],
                  "user_token": token}
        before = self.feedback_count()
        tries = {
            "HEAD": ("HEAD", {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "document"}),
            "cross-site <img>": ("GET", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image",
                                         "Sec-Fetch-Mode": "no-cors"}),
            "same-origin <img>": ("GET", {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "image"}),
            "old browser, Referer elsewhere": ("GET", {"Referer": "https://evil.example/page"}),
            "no Fetch Metadata, no Referer": ("GET", {}),
        }
        for label, (method, headers) in tries.items():
            r = s.request(method, f"{self.base}/click", params=params, headers=headers, allow_redirects=False,
                          timeout=30)
            out.refused.append(f"{label}: {r.status_code}")
        out.stored = self.feedback_count() - before
        return out

    def signed(self) -> Outcome:
        """A signed token from 6 networks is one person; 5 signed tokens from one network are 5."""
        from search.identity import sign_token

        out = Outcome("signed identities")
        roam = sign_token(SITE_SECRET, "alice")
        q1 = "turn speech recordings into text"
        for i in range(6):
            self.search(client(f"127.{100 + i}.0.1"), q1, roam)
        q2 = "write python code from a description"
        for i in range(5):
            self.search(client("127.110.0.1"), q2, sign_token(SITE_SECRET, f"member-{i}"))
        shown = self.popular()
        out.popular = q2 in shown
        out.note = f"one signed token on 6 networks popular: {q1 in shown}; 5 signed tokens on 1 network: {q2 in shown}"
        out.refused.append(f"roaming signed token on Popular: {q1 in shown}")
        return out

    def proxy(self) -> Outcome:
        """6 clients behind the trusted proxy (told apart by X-Forwarded-For), and 6 forged headers from an
        untrusted peer (one client)."""
        out = Outcome("behind a trusted proxy")
        behind = "classify the sentiment of product reviews"
        proxy = client(PROXY)
        for i in range(6):
            self.search(proxy, behind, secrets.token_hex(16), {"X-Forwarded-For": f"198.51.{i}.7, {PROXY}"})
        forged = "generate images from a text prompt"
        liar = client("127.120.0.1")
        for i in range(6):
            self.search(liar, forged, secrets.token_hex(16), {"X-Forwarded-For": f"203.0.{i}.7"})
        shown = self.popular()
        out.popular = behind in shown
        out.note = f"6 behind the proxy popular: {behind in shown}; 6 forged from one peer: {forged in shown}"
        out.refused.append(f"forged X-Forwarded-For on Popular: {forged in shown}")
        return out

    def run(self) -> list[Outcome]:
        return [self.minted(), self.roaming(), self.people(), self.batch(), self.clicks(), self.signed(),
                self.proxy()]


def _said(r: requests.Response) -> str:
    """The error message of a refusal, or what a 2xx said."""
    body = r.json()
    return body["error"]["message"][:100] if "error" in body else json.dumps(body)[:100]


def report(outcomes: list[Outcome], popular: list[str]) -> str:
    lines = ["| attack | target moved (ranks up) | on Popular searches | refused | feedback stored |",
             "|---|---|---|---|---|"]
    for o in outcomes:
        lines.append(f"| {o.name} | {o.moved} ({o.note}) | {o.popular} | {'; '.join(o.refused)} | {o.stored} |")
    lines.append("")
    lines.append("Popular searches now: " + (", ".join(popular) or "(none)"))
    return "\n".join(lines)


# --- a server of its own --------------------------------------------------------------------------
def serve(data_dir: Path, port: int, log_path: Path, **settings: object) -> ApiServe:
    """`python -m api serve` on loopback with the attack's site secret and trusted proxy (nothing else set;
    `settings` are more Settings fields, e.g. `log_level="INFO"`)."""
    return ApiServe(log_path, port=port, clean=True, settings={
        "data_dir": data_dir, "site_secret": SITE_SECRET, "trusted_proxies": PROXY, **settings})


def wait_ready(base: str, server: ApiServe, timeout_s: float = 300) -> None:
    del base  # the server knows its port
    server.wait_ready(timeout_s)


def stop(server: ApiServe) -> None:
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="http://127.0.0.1:8000", help="a running server on loopback")
    parser.add_argument("--serve", action="store_true",
                        help="start `python -m api serve` on a temp data dir (bundled catalog) instead")
    parser.add_argument("--port", type=int, default=18571, help="port of --serve")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    proc = None
    base = args.base
    if args.serve:
        work = Path(tempfile.mkdtemp(prefix="attack-"))
        proc = serve(work / "var", args.port, work / "serve.log")
        base = f"http://127.0.0.1:{args.port}"
        wait_ready(base, proc)
    try:
        bench = Bench(base)
        outcomes = bench.run()
        popular = bench.popular()
    finally:
        if proc is not None:
            stop(proc)
    if args.json:
        print(json.dumps({"outcomes": [o.__dict__ for o in outcomes], "popular": popular}, indent=2))
    else:
        print(report(outcomes, popular))


if __name__ == "__main__":
    main()
