"""The answers the dispatcher gives itself, before any tenant app runs.

Plain WSGI apps (werkzeug only): the dispatcher imports no Flask. Each page says
what happened and what the visitor can do next.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

from werkzeug.wrappers import Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

#: The pages' only style, inline: a page for a host that names no app cannot load a
#: stylesheet from it. The Content-Security-Policy allows exactly this text by its hash.
PAGE_STYLE = """
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:#f6f7fb;color:#1f2430;display:grid;place-items:center;min-height:100vh}
main{background:#fff;border:1px solid #e3e6ef;border-radius:14px;padding:2.5rem 2rem;
max-width:28rem;margin:1rem;box-shadow:0 10px 30px rgba(20,30,60,.06)}
h1{font-size:1.4rem;margin:0 0 .5rem} p{color:#4a5163;margin:.5rem 0 0}
.code{font-weight:700;color:#6b7280;letter-spacing:.08em}
a{color:#4338ca;font-weight:600;overflow-wrap:anywhere} .links{margin-top:1.25rem}
"""
#: The CSP source that allows PAGE_STYLE (``style-src 'sha256-…'``).
PAGE_STYLE_SOURCE = (
    "'sha256-" + base64.b64encode(hashlib.sha256(PAGE_STYLE.encode()).digest()).decode() + "'"
)

_PAGE = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>"""
    + PAGE_STYLE.replace("{", "{{").replace("}", "}}")
    + """</style></head>
<body><main><div class="code">{status}</div><h1>{title}</h1><p>{message}</p>{links}</main>
</body></html>
"""
)


class Page:
    """A fixed HTML answer with a status code, as a WSGI app."""

    def __init__(
        self,
        status: int,
        title: str,
        message: str,
        links: Sequence[tuple[str, str]] = (),
    ) -> None:
        """``links``: (label, URL) pairs, shown under the message: where to go from here."""
        self.status = status
        self.title = title
        self.message = message
        self.links = tuple(links)
        shown = " · ".join(
            f'<a href="{escape(url)}">{escape(label)}</a>' for label, url in self.links
        )
        self.html = _PAGE.format(
            status=status,
            title=escape(title),
            message=escape(message),
            links=f'<p class="links">{shown}</p>' if shown else "",
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse):  # noqa: ANN204
        response = Response(self.html, status=self.status, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        if self.status == 503:
            response.headers["Retry-After"] = "5"
        return response(environ, start_response)

    def __repr__(self) -> str:
        return f"<Page {self.status} {self.title!r}>"


def bad_host(reason: str) -> Page:
    return Page(400, "Bad request", f"{reason} Check the address you typed.")


NOT_FOUND = Page(
    404,
    "No workspace here",
    "There is no workspace at this address. Check the spelling, or sign up to create one.",
)
SUSPENDED = Page(
    403,
    "Workspace suspended",
    "This workspace has been suspended by the platform administrators. "
    "Its data is kept; contact support to have it resumed.",
)
UNAVAILABLE = Page(
    503,
    "Temporarily unavailable",
    "The platform cannot reach its registry right now. Please try again in a few seconds.",
)


#: Characters a path keeps unquoted (RFC 3986 pchar and "/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


class MovedTo:
    """A permanent redirect to the same path and query on another host (the primary address).

    301 for GET and HEAD (what browsers and search engines keep); 308 for other methods,
    which keeps the method and body (a 301 turns a POST into a GET).
    """

    def __init__(self, scheme: str, host: str) -> None:
        self.base = f"{scheme}://{host}"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse):  # noqa: ANN204
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        # PATH_INFO is the decoded path, its bytes as latin-1 text: quote those bytes again
        # (a "?" or "%" that was encoded in the request stays encoded in the Location).
        location = self.base + (quote(path.encode("latin-1"), safe=_PATH_SAFE) or "/")
        query = environ.get("QUERY_STRING", "")
        if query:
            location += "?" + query
        method = environ.get("REQUEST_METHOD", "GET")
        response = Response(
            f'Moved to <a href="{escape(location)}">{escape(location)}</a>.',
            status=301 if method in ("GET", "HEAD") else 308,
            mimetype="text/html",
        )
        response.headers["Location"] = location
        response.headers["Cache-Control"] = "no-store"
        return response(environ, start_response)

    def __repr__(self) -> str:
        return f"<MovedTo {self.base}>"


def not_found_page(signup_url: str, home_url: str) -> Page:
    """The 404 for a workspace address no tenant holds, with the way to create one."""
    return Page(
        404,
        "No workspace here",
        "There is no workspace at this address. Check the spelling, or sign up to create one.",
        links=(("Sign up", signup_url), ("Go to the home page", home_url)),
    )


def suspended_page(name: str, reason: str | None, support_email: str) -> Page:
    """The 403 a suspended workspace answers: whose, why (the admin's reason), whom to ask."""
    message = f"{name} has been suspended by the platform administrators."
    if reason:
        message += f" Reason: {reason.strip().rstrip('.')}."
    message += " Its data is kept."
    links: tuple[tuple[str, str], ...] = ()
    if support_email:
        message += f" To have it resumed, contact support at {support_email}."
        links = ((f"Email {support_email}", f"mailto:{support_email}"),)
    else:
        message += " To have it resumed, contact the platform's administrators."
    return Page(403, "Workspace suspended", message, links=links)
