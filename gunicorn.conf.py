"""gunicorn settings read by every `gunicorn` started from the repo root (the Procfile, tests, benchmarks).

`python -m api serve` sets the same through api/server.py.
"""

from api.healthport import post_worker_init  # noqa: F401  (gunicorn reads hooks by name from this module)
from api.server import ACCESS_LOG_FORMAT, LIMIT_REQUEST_LINE, install_json_errors

limit_request_line = LIMIT_REQUEST_LINE
# `--access-logfile` opts into an access log; this format keeps addresses, User-Agents and query strings
# (where user tokens travel) out of it, as `python -m api serve` does
access_log_format = ACCESS_LOG_FORMAT
install_json_errors()  # requests gunicorn refuses itself get the API's JSON error shape, not an HTML page
