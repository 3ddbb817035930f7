"""Customer exports, downloaded through signed links that expire (``tenants.exports``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, send_file

from tenants.console.extensions import platform_of
from tenants.exports import ExportNotAvailable, open_download

bp = Blueprint("downloads", __name__)


@bp.get("/exports/<token>")
def export(token: str) -> Any:
    """The export a link names: the signature and its age are the authorization."""
    try:
        path, _slug = open_download(platform_of(), token)
    except ExportNotAvailable as error:
        abort(error.status, str(error))
    response = send_file(
        path, mimetype="application/zip", as_attachment=True, download_name=path.name
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
