"""The orjson JSON provider (api/jsonprovider.py) writes the same documents as Flask's default provider."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from dataclasses import dataclass

import pytest
from flask.json.provider import DefaultJSONProvider

from api.app import create_app
from api.jsonprovider import OrjsonProvider
from tests.conftest import small_engine


@pytest.fixture(scope="module")
def app(embedder, tmp_path_factory):
    engine = small_engine(embedder, tmp_path_factory.mktemp("jsonprovider"))
    yield create_app(engine=engine, RATELIMIT_ENABLED=False)
    engine.close()


@dataclass
class Point:
    x: int
    label: str


def test_the_app_serves_json_through_orjson(app) -> None:
    assert isinstance(app.json, OrjsonProvider)


def test_search_responses_are_the_same_documents_as_the_default_providers(app) -> None:
    """Every served search body, parsed, equals what Flask's own provider writes for the same object."""
    default = DefaultJSONProvider(app)
    client = app.test_client()
    for q in ("extract answers from passages of text", "object detection in images", "code généré en python",
              "bigcode/the-stack-v2", "zzzz qqqq"):
        captured = {}
        real = app.json.response

        def spy(*args, captured=captured, real=real, **kwargs):
            captured["obj"] = app.json._prepare_response_obj(args, kwargs)
            return real(*args, **kwargs)

        app.json.response = spy
        try:
            resp = client.get("/v1/search", query_string={"q": q, "k": 10, "record": "false"})
        finally:
            del app.json.response
        assert resp.status_code == 200
        with app.app_context():
            expected = default.response(captured["obj"]).get_data()
        assert json.loads(resp.get_data()) == json.loads(expected)
        # keys sorted, as Flask's default provider writes them
        assert list(json.loads(resp.get_data())) == sorted(json.loads(resp.get_data()))


def test_special_values_match_the_default_provider(app) -> None:
    default = DefaultJSONProvider(app)
    values = {"when": dt.datetime(2026, 12, 7, 6, 0, tzinfo=dt.UTC), "day": dt.date(2026, 1, 2),
              "id": uuid.UUID(int=7), "point": Point(3, "é"), "big": 2**70, "small": 1e-7,
              "nested": [{"b": 1, "a": [True, None, 0.1]}], "text": "naïve ☃ \u2028"}
    with app.app_context():
        ours = json.loads(app.json.dumps(values))
        theirs = json.loads(default.dumps(values))
        assert ours == theirs
        assert json.loads(app.json.response(values).get_data()) == theirs
        assert app.json.dumps(values, indent=2) == app.json.dumps(values, indent=2)  # indented output works
        assert json.loads(app.json.dumps({"nan": math.nan})) == {"nan": None}  # valid JSON, not `NaN`
