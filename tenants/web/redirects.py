"""Where a login may send a person next: only to a path of the same app.

A target is judged by the path a browser or a server would finally reach, not by its
spelling: ``/acme/../globex/``, ``/acme/%2e%2e/globex/``, ``/acme/%252E%252E/globex/``
(decoded twice by some stacks), ``/acme/..;/globex/`` (a ``;`` parameter some servers
drop) and ``/acme/..\\globex/`` (browsers read ``\\`` as ``/``) all reach globex. So the
path is decoded until it no longer changes, its dot segments are resolved, and the
result must lie under the app's root; that normalized path is what is returned.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

#: A ``next`` longer than this is nobody's bookmark: refused.
MAX_TARGET_LENGTH = 2048
#: Percent-decoding rounds tried before a target counts as deliberately obscured.
_DECODE_ROUNDS = 4
#: What ``quote`` leaves as it is in a normalized path (RFC 3986 pchar and "/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _has_control(text: str) -> bool:
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)


def _decoded(path: str) -> str | None:
    """``path`` percent-decoded until it no longer changes, or None if it keeps changing."""
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(path, errors="strict")
        if decoded == path:
            return path
        path = decoded
    return None


def normalized_path(path: str) -> str | None:
    """The path ``path`` finally reaches (decoded, dot segments resolved), or None.

    None for a path that cannot be read plainly: undecodable bytes, control characters
    or backslashes once decoded, or encoding nested deeper than any real link has.
    """
    try:
        decoded = _decoded(path)
    except UnicodeDecodeError:
        return None
    if decoded is None or _has_control(decoded) or "\\" in decoded:
        return None
    resolved: list[str] = []
    segments = decoded.split("/")[1:]
    for index, segment in enumerate(segments):
        # "..;x" is "..": servers that take ";" parameters drop them before resolving.
        bare = segment.split(";", 1)[0]
        last = index == len(segments) - 1
        if bare == "..":
            if resolved:
                resolved.pop()
            if last:
                resolved.append("")
        elif bare == ".":
            if last:
                resolved.append("")
        else:
            resolved.append(segment)
    return "/" + "/".join(resolved)


def safe_next(target: str | None, root: str = "") -> str | None:
    """The normalized ``target`` if it is a path under ``root`` (the app's script root).

    Never another host or scheme (``//evil.test``, ``https:…``, backslashes that browsers
    read as slashes), and in path mode never another tenant's prefix, however the path
    is encoded. None when the target must not be followed.
    """
    if not isinstance(target, str) or not target or len(target) > MAX_TARGET_LENGTH:
        return None
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if _has_control(target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    path = normalized_path(parts.path)
    if path is None or path.startswith("//"):
        return None
    if root and not (path == root or path.startswith(root + "/")):
        return None
    query = f"?{parts.query}" if parts.query else ""
    return quote(path, safe=_PATH_SAFE) + query
