"""Security headers on every response: tenant apps, the platform app, the dispatcher's pages.

One WSGI middleware in front of the dispatcher, so no app can forget them and the
dispatcher's own 400/403/404/503 pages carry them too:

- ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``: no page can be framed
  (clickjacking of "delete this workspace" or a login form).
- ``X-Content-Type-Options: nosniff``: a response is only ever what its type says.
- ``Referrer-Policy: same-origin``: stricter than ``strict-origin-when-cross-origin``;
  a link to another site sends no ``Referer`` at all, so a tenant's address (which
  names the customer) and paths with ids never reach third parties, while same-origin
  form posts keep theirs (Flask-WTF checks it on https).
- ``Content-Security-Policy``: everything from the page's own origin; inline styles only
  with this response's nonce (the layout's one ``<style>``, which sets the tenant's
  accent colour; templates read the nonce from ``environ["tenants.csp_nonce"]``) or
  the exact text of the dispatcher pages' style (by hash); no plugins, no ``<base>``,
  forms only to the platform's own hosts.
- ``Strict-Transport-Security`` when the platform is served over https.

Apps may add to these, never silently lose them: an app's own CSP is sent as well
(browsers enforce every policy, so it can only tighten), a stricter ``Referrer-Policy``
(``no-referrer``) is kept, and the other headers are always the values above.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from tenants.dispatch.pages import PAGE_STYLE_SOURCE

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The environ key holding this response's CSP nonce, for ``<style nonce="…">``.
CSP_NONCE_KEY = "tenants.csp_nonce"
REFERRER_POLICY = "same-origin"
#: Referrer policies at least as strict as ours: an app may choose one of these instead.
_AS_STRICT_REFERRER_POLICIES = frozenset({"same-origin", "no-referrer"})
HSTS = "max-age=31536000; includeSubDomains"
#: Headers whose value is ours whatever the app set.
_OURS = frozenset(
    {"x-frame-options", "x-content-type-options", "strict-transport-security", "referrer-policy"}
)


def content_security_policy(nonce: str, form_action: Iterable[str] = ()) -> str:
    """The policy for one response (``nonce``: its inline-style nonce)."""
    targets = " ".join(("'self'", *form_action))
    return (
        f"default-src 'self'; style-src 'self' 'nonce-{nonce}' {PAGE_STYLE_SOURCE}; "
        f"object-src 'none'; base-uri 'none'; form-action {targets}; frame-ancestors 'none'"
    )


class SecurityHeaders:
    """Add the platform's security headers to every response of ``app``.

    ``https``: also send Strict-Transport-Security. ``form_action``: origins besides the
    page's own that forms may post (or be redirected) to, e.g. the tenants' wildcard
    for the signup form, which ends on the new tenant's host.
    """

    def __init__(
        self, app: WSGIApplication, *, https: bool = False, form_action: Iterable[str] = ()
    ) -> None:
        self.app = app
        # The policy around the nonce, built once: per response only the nonce changes.
        self._csp_head, self._csp_tail = content_security_policy("\0", form_action).split("\0")
        fixed = [
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if https:
            fixed.append(("Strict-Transport-Security", HSTS))
        self._fixed = tuple(fixed)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        nonce = os.urandom(16).hex()
        environ[CSP_NONCE_KEY] = nonce
        csp = self._csp_head + nonce + self._csp_tail

        def start_with_headers(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            referrer = REFERRER_POLICY
            kept = []
            for name, value in headers:
                lower = name.lower()
                if lower not in _OURS:
                    kept.append((name, value))
                elif lower == "referrer-policy" and value.strip().lower() in (
                    _AS_STRICT_REFERRER_POLICIES
                ):
                    referrer = value
            kept.extend(self._fixed)
            kept.append(("Referrer-Policy", referrer))
            kept.append(("Content-Security-Policy", csp))
            return start_response(status, kept, exc_info)

        return self.app(environ, start_with_headers)
