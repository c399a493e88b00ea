"""Evidence a script cannot fake (issue 27): bench/attack.py's attacks against `python -m api serve`.

The server runs as an operator starts it (SQLite store, default logging), with a site secret for signed
tokens and one trusted proxy. Clients bind loopback source addresses 127.a.b.c, which stand for networks
(127.a.b.0/24). Each test runs one attack and checks what it could move; the last one greps the data dir and
the server's output for every token, User-Agent and client address the attacks sent.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from conftest import small_records

from bench import attack


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(embedder, tmp_path_factory):
    """(Bench, data dir, log path) of a `serve` on a small catalog; always stopped."""
    from graph.settings import Settings
    from search.engine import Engine

    root = tmp_path_factory.mktemp("attack")
    catalog = root / "small.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in small_records(extra=60)))
    eng = Engine(Settings.load(data_dir=root / "var", store_url=""), embedder=embedder)
    eng.ingest([catalog])
    eng.close()
    port = _free_port()
    log = root / "serve.log"
    proc = attack.serve(root / "var", port, log, log_level="INFO")
    try:
        attack.wait_ready(f"http://127.0.0.1:{port}", proc)
        yield attack.Bench(f"http://127.0.0.1:{port}"), root / "var", log
    finally:
        attack.stop(proc)


@pytest.fixture(scope="module")
def bench(served) -> attack.Bench:
    return served[0]


def test_identities_minted_on_one_network_move_a_target_by_at_most_one_rank(bench) -> None:
    out = bench.minted(30)
    print(attack.report([out], bench.popular()))
    assert out.moved <= 1, out.note
    assert not out.popular, bench.popular()
    assert "best deals at evil-example dot com" not in bench.popular()


def test_one_token_from_many_networks_is_still_one_person(bench) -> None:
    out = bench.roaming(30)
    assert out.moved <= 1 and not out.popular, out.note


def test_six_people_on_six_networks_move_a_result_and_make_a_query_popular(bench) -> None:
    out = bench.people(6)
    print(attack.report([out], bench.popular()))
    assert out.moved >= 2, out.note
    assert out.popular, bench.popular()


def test_a_crowd_in_one_batch_and_votes_on_someone_elses_search_store_nothing(bench) -> None:
    out = bench.batch()
    assert out.stored == 0
    crowd, other, anonymous = out.refused
    assert crowd.startswith("batch of 50 tokens: 422") and "one identity" in crowd
    assert other.startswith("another identity's search: 403") and "another identity" in other
    assert anonymous.endswith("403")


def test_clicks_not_made_by_a_person_on_this_site_store_nothing(bench) -> None:
    out = bench.clicks()
    assert out.stored == 0
    assert all(r.endswith(": 403") for r in out.refused), out.refused


def test_a_same_site_click_with_the_pages_token_records(bench) -> None:
    s = attack.client("127.93.0.1")
    found = bench.search(s, "extractive question answering on a text passage", "clicker-token-1")
    before = bench.feedback_count()
    r = s.get(f"{bench.base}/click", params={"search_id": found["search_id"], "user_token": "clicker-token-1",
                                             "artifact_id": found["results"][0]["artifact_id"]},
              headers={"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "document"}, allow_redirects=False)
    assert r.status_code == 303 and bench.feedback_count() == before + 1


def test_feedback_on_an_unrecorded_search_says_so(bench) -> None:
    s = attack.client("127.94.0.1")
    r = s.get(f"{bench.base}/v1/search", params={"q": "find the answer to a question in a passage", "record": "false",
                                                 "user_token": "quiet-token"})
    body = r.json()
    assert body["recorded"] is False
    resp = bench.vote(s, body["search_id"], body["results"][0]["artifact_id"], "quiet-token")
    error = resp.json()["error"]
    assert resp.status_code == 409 and error["code"] == "not_recorded" and "record=false" in error["message"]
    assert "older than the feedback window" not in error["message"]


def test_a_signed_token_counts_as_one_person_from_any_network(bench) -> None:
    out = bench.signed()
    assert out.popular, out.note  # 5 signed tokens on one network: 5 people
    assert out.refused == ["roaming signed token on Popular: False"], out.note  # 1 token, 6 networks: 1


def test_clients_behind_a_trusted_proxy_are_told_apart_and_forged_headers_are_not(bench) -> None:
    out = bench.proxy()
    assert out.popular, out.note
    assert out.refused == ["forged X-Forwarded-For on Popular: False"], out.note


def test_frames_are_open_on_the_widget_only(bench) -> None:
    page = bench.local.get(f"{bench.base}/")
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "SAMEORIGIN"
    api = bench.local.get(f"{bench.base}/v1/analytics/summary")
    assert api.headers["X-Frame-Options"] == "SAMEORIGIN"
    widget = bench.local.get(f"{bench.base}/widget/similar/bigcode/the-stack-v2")
    assert widget.status_code == 200 and "X-Frame-Options" not in widget.headers
    assert "frame-ancestors" not in widget.headers["Content-Security-Policy"]  # any page, local files too


def test_nothing_personal_is_written_to_disk(served) -> None:
    """Runs last: every token, User-Agent and client address the attacks sent, grepped in every file of the
    data dir and in everything the server wrote (its log: `serve` keeps no access log by default)."""
    bench, data_dir, log = served
    assert len(bench.sent) > 100  # the attacks above ran
    files = [p for p in Path(data_dir).rglob("*") if p.is_file()] + [log]
    assert "GET /v1/search" not in log.read_text(errors="replace")  # no access log
    found = []
    for path in files:
        blob = path.read_bytes()
        found += [f"{path.name}: {x}" for x in sorted(bench.sent) if x.encode() in blob]
    assert not found, found[:20]
