"""The development outbox: ``/dev/outbox/`` lists the messages written to instance/outbox/.

Only when the platform runs with ``FLASK_DEBUG`` (the development server) and has no
``MAIL_URL``: in any other configuration the route answers 404, so production never
shows anyone's mail. The development server also prints each message's links in its
console (``tenants/mail/transport.py``).
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from tenants.console.extensions import platform_of
from tenants.jobs.mail import mail_config
from tenants.mail import outbox_messages

bp = Blueprint("outbox", __name__, url_prefix="/dev/outbox")


@bp.get("/")
def index() -> str:
    platform = platform_of()
    if not platform.settings.debug or platform.settings.mail_url:
        abort(404)
    config = mail_config(platform)
    return render_template(
        "console/outbox.html", messages=outbox_messages(config), folder=str(config.outbox)
    )
