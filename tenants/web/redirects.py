"""Where a login may send a person next: only to a path of the same app."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(target: str | None, root: str = "") -> str | None:
    """``target`` if it is a path under ``root`` (the app's script root), else None.

    Never another host or scheme (``//evil.test``, ``https:…``, backslashes that browsers
    read as slashes), and in path mode never another tenant's prefix.
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    if root and not (target == root or target.startswith(root + "/")):
        return None
    return target
