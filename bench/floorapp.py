"""The floor of an HTTP search on this machine: a Flask app that does nothing, or only encodes the query.

    gunicorn ... "bench.floorapp:create_app()"     (bench/floor.py starts it as bench/servers.py starts ours)

`GET /noop` answers a small JSON object: what gunicorn (the same gthread workers), the socket, HTTP parsing,
Flask's dispatch and a JSON response cost with no work at all. `GET /encode?q=` runs matchgraph's query
encoder (the same ONNX export and threads, no cache) and answers the vector's size: the least a search over
HTTP can cost. Not a product module: nothing here is served by matchgraph.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, jsonify, request

from graph.settings import Settings
from search.embedder import Embedder


def create_app() -> Flask:
    settings = Settings.load()
    embedder = Embedder.from_settings(settings, None, Path(settings.data_dir) / "models")
    embedder._encode_uncached(["warm up"])  # the session is made before the first timed request
    app = Flask(__name__)

    @app.get("/noop")
    def noop():
        return jsonify({"ok": True})

    @app.get("/encode")
    def encode():
        vector = embedder._encode_uncached([request.args.get("q", "")])[0]
        return jsonify({"dim": int(vector.shape[0])})

    @app.get("/readyz")
    def readyz():
        return jsonify({"status": "ready", "checks": {"pid": os.getpid()}})

    return app
