"""HTML pages served from the API's own data (search box, artifact, compare, analytics, widget)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")
