"""Match evidence people can trust (issue 14), through the real HTTP API (Flask test client, SQLite store).

Who searched (`user_token`, else a keyed hash of address + User-Agent), what counts (one settled search per
user and query per window; previews, HEAD and low-confidence searches count nothing), what feedback counts
(one click, vote and dwell per user, search and artifact; a vote replaces the earlier one).
"""

from __future__ import annotations

import dataclasses
import json
import zlib

import pytest

QUERY = "answer questions about a passage of text"
LOW = "zxqv blorf wibbleflap"


ADMIN = {"Authorization": "Bearer evidence-admin-key"}


@pytest.fixture(scope="module")
def client(engine):
    from api.app import create_app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATCHGRAPH_API_KEY", ADMIN["Authorization"].removeprefix("Bearer "))
        yield create_app(engine=engine, RATELIMIT_ENABLED=False).test_client()


def network(token: str | None) -> str:
    """Each token searches from a network of its own (10.x.y.0/24): a person on a network, as in life. A
    crowd of tokens on one network counts as one person (search/identity.py; tests/test_attack.py)."""
    n = zlib.crc32((token or "").encode())
    return f"10.{n % 251}.{(n >> 8) % 251}.7"


def search(client, q: str, token: str | None = None, method: str = "GET", **params) -> dict:
    args = {"q": q, **params, **({"user_token": token} if token else {})}
    resp = client.open("/v1/search", method=method, query_string=args,
                       environ_base={"REMOTE_ADDR": network(token)})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json() if method == "GET" else {}


def times_matched(engine, ids) -> dict[str, int]:
    return engine.times_matched(ids)


# --- who ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["", "a b", "x" * 129, "é", "<script>"])
def test_a_bad_user_token_is_a_4xx_naming_the_field(client, bad):
    resp = client.get("/v1/search", query_string={"q": QUERY, "user_token": bad})
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "user_token", resp.get_json()
    found = search(client, QUERY, "ok-token")
    body = {"search_id": found["search_id"], "artifact_id": found["results"][0]["artifact_id"], "event": "click",
            "user_token": bad}
    resp = client.post("/v1/feedback", json=body)
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "user_token"
    resp = client.post("/v1/feedback:batch", json={"events": [{**body, "user_token": "fine"}, body]})
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "events[1].user_token"


def test_user_tokens_and_addresses_are_stored_only_as_keyed_hashes(client, engine):
    found = search(client, "summarise news articles", "raw-token-123")
    stored = engine.store.get_search(found["search_id"])
    assert stored.owner.startswith("t") and "raw-token-123" not in stored.owner
    assert stored.user.startswith("n") and network("raw-token-123") not in stored.user  # its network's person
    anon = client.get("/v1/search", query_string={"q": "summarise news articles"},
                      headers={"User-Agent": "probe-agent/1"}, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    anon_user = engine.store.get_search(anon.get_json()["search_id"]).owner
    assert anon_user.startswith("a") and "203.0.113.9" not in anon_user
    log = "".join(json.dumps(e.to_dict()) for _, e in engine.store.events())
    assert "raw-token-123" not in log and "203.0.113.9" not in log and "probe-agent" not in log
    assert engine.user_key("raw-token-123") == stored.owner  # stable: the same token is the same identity


# --- settled searches -------------------------------------------------------------------------------
def test_one_user_repeating_a_search_counts_once_and_five_users_count_five(client, engine):
    first = search(client, QUERY, "repeat-user")
    ids = [r["artifact_id"] for r in first["results"]]
    after_first = times_matched(engine, ids)
    for _ in range(4):  # Enter after the preview, reloads, back-navigation: same user, same query
        search(client, QUERY, "repeat-user")
    assert times_matched(engine, ids) == after_first
    search(client, "  Answer QUESTIONS about a passage of text! ", "repeat-user")  # same normalised query
    assert times_matched(engine, ids) == after_first
    for i in range(5):
        again = search(client, QUERY, f"other-user-{i}")
        assert [r["artifact_id"] for r in again["results"]] == ids
    assert times_matched(engine, ids) == {a: n + 5 for a, n in after_first.items()}


def test_previews_head_and_low_confidence_searches_add_nothing(client, engine):
    q = "extractive question answering on a text passage"
    probe = search(client, q, "probe", record="false")
    assert probe["low_confidence"] is False
    ids = [r["artifact_id"] for r in probe["results"]]
    before = times_matched(engine, ids)
    summary_before = engine.store.summary()
    for i in range(3):
        assert search(client, q, f"typist-{i}", preview="true")["recorded"] is True
        search(client, q, f"head-{i}", method="HEAD")
    assert times_matched(engine, ids) == before
    low = search(client, LOW, "low-user")  # gibberish: nothing matches (issue 28)
    assert low["low_confidence"] is True and low["results"] == []
    # a search just above the match floor (within MATCHGRAPH_LOW_CONFIDENCE of it) keeps its results, flagged
    kept = engine.config
    engine.config = dataclasses.replace(kept, low_confidence=10.0)
    try:
        flagged = search(client, q, "low-user-0")
        assert flagged["low_confidence"] is True and flagged["results"]
        for i in range(1, 3):
            assert search(client, q, f"low-user-{i}")["low_confidence"] is True
    finally:
        engine.config = kept
    assert times_matched(engine, ids) == before  # flagged searches are logged, never counted
    s = engine.store.summary()
    assert s["preview_searches"] == summary_before["preview_searches"] + 3  # logged, with their flag
    assert s["low_confidence_searches"] == summary_before["low_confidence_searches"] + 4
    assert s["searches"] == summary_before["searches"] + 3 + 4  # HEAD is not even logged
    # the settled search after a preview still counts, once
    search(client, q, "typist-0")
    assert times_matched(engine, ids) == {a: n + 1 for a, n in before.items()}


# --- feedback -----------------------------------------------------------------------------------------
def edge(engine, search_id: str, artifact_id: str):
    intent = engine.store.get_search(search_id).intent_id
    return engine.store.intent_edges([intent])[intent][artifact_id]


def test_repeated_feedback_is_accepted_and_changes_nothing_and_a_vote_replaces_the_earlier(client, engine):
    found = search(client, "extract named entities from text", "fb-user")
    sid, target = found["search_id"], found["results"][1]["artifact_id"]
    before = edge(engine, sid, target)

    def send(event: str, token: str = "fb-user", **extra) -> None:
        resp = client.post("/v1/feedback", json={"search_id": sid, "artifact_id": target, "event": event,
                                                 "user_token": token, **extra})
        assert resp.status_code == 202

    for _ in range(5):
        send("click")
        send("dwell", dwell_ms=20_000)
        send("upvote")
    after = edge(engine, sid, target)
    assert (after.clicks - before.clicks, after.dwells - before.dwells, after.upvotes - before.upvotes) == (1, 1, 1)
    send("downvote")  # changes its mind: the upvote is replaced, not added to
    after = edge(engine, sid, target)
    assert (after.upvotes - before.upvotes, after.downvotes - before.downvotes) == (0, 1)
    assert after.users[engine.store.get_search(sid).user] == -1  # the person the search counted for
    resp = client.post("/v1/feedback", json={"search_id": sid, "artifact_id": target, "event": "click",
                                             "user_token": "fb-other"})
    assert resp.status_code == 403 and resp.get_json()["error"]["field"] == "search_id"  # not their search
    assert edge(engine, sid, target) == after


def test_a_vote_can_be_withdrawn_and_the_store_keeps_the_withdrawal(client, engine):
    found = search(client, "find the answer to a question in a passage", "wd-user")
    sid, target = found["search_id"], found["results"][0]["artifact_id"]
    from graph.events import EdgeStats

    intent = engine.store.get_search(sid).intent_id
    before = engine.store.intent_edges([intent]).get(intent, {}).get(target, EdgeStats())  # none yet: zeros

    def send(event: str) -> None:
        resp = client.post("/v1/feedback", json={"search_id": sid, "artifact_id": target, "event": event,
                                                 "user_token": "wd-user"})
        assert resp.status_code == 202, resp.get_data(as_text=True)

    person = engine.store.get_search(sid).user
    send("upvote")
    assert edge(engine, sid, target).upvotes == before.upvotes + 1
    send("unvote")  # withdrawn: the count and the person's stance go
    after = edge(engine, sid, target)
    assert (after.upvotes, after.downvotes) == (before.upvotes, before.downvotes) and person not in after.users
    send("unvote")  # nothing left to withdraw: changes nothing
    assert edge(engine, sid, target) == after
    send("downvote")  # a new vote after a withdrawal counts, replacing nothing
    assert edge(engine, sid, target).downvotes == before.downvotes + 1
    send("unvote")
    engine.store.rebuild()  # durable: replaying the log gives what the page showed
    rebuilt = edge(engine, sid, target)
    assert (rebuilt.upvotes, rebuilt.downvotes) == (before.upvotes, before.downvotes) and person not in rebuilt.users


def test_feedback_on_an_unrecorded_search_says_it_was_not_recorded(client):
    found = search(client, "find the answer to a question in a passage", "nr-user", record="false")
    resp = client.post("/v1/feedback", json={"search_id": found["search_id"], "event": "upvote",
                                             "artifact_id": found["results"][0]["artifact_id"],
                                             "user_token": "nr-user"})
    assert resp.status_code == 409 and "record=false" in resp.get_json()["error"]["message"]


# --- what one person can change ------------------------------------------------------------------------
STEER = "a model that answers questions about a passage"
PARAPHRASES = ("model answering questions about a text passage", "answer questions given a paragraph")


def ranks(client, q: str) -> list[str]:
    return [r["artifact_id"] for r in search(client, q, record="false", k=20)["results"]]


def test_one_token_cannot_steer_a_ranking_but_five_people_can(client, engine):
    before = {q: ranks(client, q) for q in (STEER, *PARAPHRASES)}
    wrong = before[STEER][7]
    sids = []
    for _ in range(200):  # one attacker: 200 searches, a click on the wrong result after each
        found = search(client, STEER, "attacker")
        sids.append(found["search_id"])
        assert client.post("/v1/feedback", json={"search_id": found["search_id"], "artifact_id": wrong,
                                                 "event": "click", "user_token": "attacker"}).status_code == 202
    events = [{"search_id": sid, "artifact_id": wrong, "event": "upvote", "user_token": "attacker"}
              for sid in sids[:50]]
    assert client.post("/v1/feedback:batch", json={"events": events}).status_code == 202
    for q, was in before.items():
        now = ranks(client, q)
        if wrong in was:
            assert now.index(wrong) >= was.index(wrong) - 1, (q, was.index(wrong), now.index(wrong))

    # five distinct people choosing the same (correct) result for the query do move it up
    chosen = before[STEER][5]
    for i in range(5):
        found = search(client, STEER, f"person-{i}")
        assert client.post("/v1/feedback", json={"search_id": found["search_id"], "artifact_id": chosen,
                                                 "event": "click", "user_token": f"person-{i}"}).status_code == 202
    assert ranks(client, STEER).index(chosen) < before[STEER].index(chosen)


# --- public lists -----------------------------------------------------------------------------------
def popular(client) -> list[str]:
    resp = client.get("/v1/analytics/popular", query_string={"limit": 50})
    assert resp.status_code == 200
    return [i["query"] for i in resp.get_json()["items"]]


def test_popular_searches_need_five_people_and_an_operator_can_hide_one(client, engine, tmp_path):
    q = "convert speech recordings into written text"
    for _ in range(100):
        search(client, q, "repeater")
    assert q not in popular(client)
    for i in range(3):
        search(client, q, f"fan-{i}")
    assert q not in popular(client)  # 4 people so far
    search(client, q, "fan-3")
    assert q in popular(client)
    assert q in client.get("/").get_data(as_text=True)  # the home page's "Popular searches"
    for junk in ("a", "😀"):
        for i in range(6):
            client.get("/v1/search", query_string={"q": junk, "user_token": f"junk-{i}"})
    assert not {"a", "😀"} & set(popular(client))

    resp = client.post("/v1/queries:hide", json={"query": "Convert speech recordings into written text!"},
                       headers=ADMIN)
    assert resp.status_code == 200 and resp.get_json() == {"query": q, "hidden": True}
    assert q not in popular(client)
    assert client.post("/v1/queries:hide", json={"query": q, "hidden": False}, headers=ADMIN).status_code == 200
    assert q in popular(client)
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text("# operator blocklist\nCONVERT speech recordings into written text\n")
    config = engine.config
    engine.config = dataclasses.replace(config, popular_blocklist=blocklist)
    try:
        assert q not in popular(client)
    finally:
        engine.config = config
    assert client.post("/v1/queries:hide", json={"query": ""}, headers=ADMIN).get_json()["error"]["field"] == "query"
    assert client.post("/v1/queries:hide", json={"query": q}).status_code == 401  # admin only
