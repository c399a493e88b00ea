"""Responses are validated in tests and debugging only (`validate_responses`, issue 32), and that changes
nothing a client sees: the same bytes, status and headers, and the same 422s for bad input."""

from __future__ import annotations

import pytest
from spectree import Response

from api.models import ErrorResponse, SearchResponse
from graph.settings import Settings

VARYING = {"search_id", "took_ms"}  # differ from one search to the next, whoever answers it


@pytest.fixture(scope="module")
def apps(engine):
    """(validating, serving): two apps over one engine, responses validated or not."""
    from api.app import create_app

    return tuple(create_app(engine=engine, config=engine.config.replace(validate_responses=on),
                            RATELIMIT_ENABLED=False) for on in (True, False))


def test_the_test_suite_validates_every_response_and_production_does_not() -> None:
    assert Settings.load().validate_responses  # tests/conftest.py turns it on for every app the tests build
    assert Settings.load({}).validate_responses is False  # the default


def test_an_unvalidated_response_is_the_one_validation_sends(apps) -> None:
    """The plugin's answer for a view's flask.Response, with and without validation: the same status,
    headers (in order) and bytes."""
    from flask import jsonify

    from api.spec import spec

    validating, serving = apps
    payload = validating.test_client().get("/v1/search?q=find+and+box+the+objects+in+a+photo&record=false").get_json()
    model = Response(HTTP_200=SearchResponse, HTTP_422=ErrorResponse)
    model.bind_model_adapter(spec.model_adapter)
    sent = []
    for app in apps:
        with app.test_request_context("/v1/search?q=photo"):
            resp = jsonify(payload)
            resp.headers["Cache-Control"] = "no-store"
            out, error = spec.backend.validate_response(resp, model, False, False)
            assert error is None
            sent.append((out.status_code, list(out.headers.items()), out.get_data()))
    assert sent[0] == sent[1]


@pytest.mark.parametrize("query", ["pull the answer to a question out of a paragraph",
                                   "find and box the objects in a photo", "write python code from an english "
                                   "description", "open weights model with a long context, cheapest first"])
def test_search_answers_the_same_with_and_without_response_validation(apps, query) -> None:
    got = []
    for app in apps:
        resp = app.test_client().get("/v1/search", query_string={"q": query, "k": 5})
        assert resp.status_code == 200
        body = resp.get_json()
        SearchResponse.model_validate(body)  # the documented shape, whichever app answered
        headers = [(k, v) for k, v in resp.headers.items() if k != "Content-Length"]  # took_ms's digits vary
        got.append((headers, {k: v for k, v in body.items() if k not in VARYING}))
    assert got[0] == got[1]
    assert got[0][1]["results"]


@pytest.mark.parametrize("query", ["", "q=", "q=" + "a" * 4001, "q=ok&k=0", "q=ok&k=abc", "q=ok&offset=-1",
                                   "q=ok&type=spaceship", "q=ok&type=model&type=spaceship", "q=ok&colour=blue",
                                   "q=bad%00byte", "q=ok&facets=colour", "q=ok&user_token=%20",
                                   "q=ok&max_input_usd_per_mtok=-1"])
def test_bad_search_input_gets_the_same_422_naming_the_field(apps, query) -> None:
    answers = [app.test_client().get("/v1/search?" + query) for app in apps]
    assert {a.status_code for a in answers} == {422}
    assert answers[0].get_json() == answers[1].get_json()
    assert answers[0].get_json()["error"]["field"]


@pytest.mark.parametrize("body", [{}, {"search_id": "x"}, {"search_id": "x", "artifact_id": "y", "event": "nod"},
                                  {"search_id": "x", "artifact_id": "y", "event": "dwell"}])
def test_bad_feedback_gets_the_same_answer(apps, body) -> None:
    answers = [app.test_client().post("/v1/feedback", json=body) for app in apps]
    assert answers[0].status_code == answers[1].status_code == 422
    assert answers[0].get_json() == answers[1].get_json()


def test_validation_when_on_catches_a_response_that_breaks_its_model(apps, monkeypatch) -> None:
    """The setting is what it says: with it on, a view's response that breaks its documented model is a 500;
    off, it is sent as built."""
    import api.v1_search as v1

    real = v1.search_response
    monkeypatch.setattr(v1, "search_response", lambda *a, **k: {**real(*a, **k), "total": "many"})
    validating, serving = apps
    assert validating.test_client().get("/v1/search?q=object+detection").status_code == 500
    resp = serving.test_client().get("/v1/search?q=object+detection")
    assert resp.status_code == 200 and resp.get_json()["total"] == "many"


def test_search_response_maps_what_the_engine_shows_as_before(engine) -> None:
    """api/serialize.py reads each hit's UnfragileRank and interval in one renormalisation, and the facts
    from the view's cache: the same values as the Scores properties and graph.facts.facts_of give."""
    from flask import Flask

    from api.serialize import search_response
    from graph.facts import facts_of

    with Flask(__name__).test_request_context("/"):
        for q in ("pull the answer to a question out of a paragraph", "segment an image into regions of each class",
                  "open weights model with a long context, cheapest first"):
            result = engine.search(q, k=10, record=False)
            shown = engine.serve(result, record=False)
            body = search_response(result, shown, engine)
            assert body["results"]
            for item in body["results"]:
                scores = shown.scores[item["artifact_id"]]
                assert item["unfragile_rank"] == scores.unfragile_rank
                assert item["unfragile_rank_interval"] == list(scores.rank_interval)
                assert item["facts"] == facts_of(engine.artifacts[item["artifact_id"]])
            first = body["results"][0]
            first["facts"]["license"] = "changed by a caller"  # a caller's copy: the cache is not touched
            assert engine.facts(first["artifact_id"]) == facts_of(engine.artifacts[first["artifact_id"]])


def test_rank_and_interval_is_what_the_properties_compute() -> None:
    """Scores.rank_and_interval renormalises once; the values are the formula the properties always had."""
    import math
    import random

    from graph.scores import COMPONENTS, Component, Scores

    rng = random.Random(5)
    for _ in range(500):
        comps = {c: Component(rng.random(), known=rng.random() < 0.8, uncertainty=rng.random() / 5)
                 for c in COMPONENTS}
        s = Scores(comps, {c: rng.random() for c in COMPONENTS})
        eff = s.effective_weights()
        rank = int(round(100 * min(1.0, max(0.0, sum(eff[c] * comps[c].value for c in COMPONENTS)))))
        u = 100 * sum(eff[c] * comps[c].uncertainty for c in COMPONENTS)
        expected = (rank, (max(0, int(math.floor(rank - u))), min(100, int(math.ceil(rank + u)))))
        assert s.rank_and_interval() == expected == (s.unfragile_rank, s.rank_interval)
