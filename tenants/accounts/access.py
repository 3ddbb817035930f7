"""Who may do what in a workspace: every member works with notes; owners manage it."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort
from flask_login import current_user, login_required

P = ParamSpec("P")
R = TypeVar("R")


def owner_required(view: Callable[P, R]) -> Callable[P, R]:
    """Log in first (redirect), then only an owner passes (others get 403)."""

    @wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        if not current_user.is_owner:
            abort(403, "Only an owner of this workspace can do this. Ask an owner for help.")
        return view(*args, **kwargs)

    return login_required(guarded)
