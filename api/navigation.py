"""Whether a GET is a person following a link on this site: what `/click` demands before it records.

A click recorded on any GET can be fired by anything: a HEAD, an `<img src>` on another site, a crawler.
Browsers say what a request is (Fetch Metadata): `Sec-Fetch-Site` (same-origin, same-site, cross-site, none)
and `Sec-Fetch-Dest` (document for a navigation, image, script, ...). When a browser sends them they decide;
an older browser without them is judged by its `Referer`, which must be a page of this site (our
Referrer-Policy, strict-origin-when-cross-origin, sends it on same-origin links). A request with neither is
not recorded: nothing shows it came from a results page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Request

SAME_SITE = ("same-origin",)  # not "same-site": a sibling subdomain may be somebody else's (user content hosts)


def refusal(request: Request) -> str:
    """Why this request may not record a click ("" when it may)."""
    if request.method != "GET":
        return f"a {request.method} request never records a click"
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        if site not in SAME_SITE:
            return f"a click counts only when followed from this site (Sec-Fetch-Site: {site[:20]})"
        dest = request.headers.get("Sec-Fetch-Dest", "")
        if dest and dest != "document":
            return f"a click counts only as a navigation, not as an {dest[:20]} request"
        return ""
    referer = request.headers.get("Referer", "")
    if not referer:
        return "a click counts only when followed from a results page of this site (no Referer)"
    ref = urlsplit(referer)
    if (ref.scheme, ref.netloc) != (request.scheme, request.host):
        return "a click counts only when followed from a results page of this site (Referer of another site)"
    return ""
