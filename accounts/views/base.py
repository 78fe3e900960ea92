"""What every portal page under `/orgs/<ns>/` shares: the caller's Access, checked once.

Order matters: the organization is resolved first, so a non-member gets 404 for every page,
method and object (it learns nothing, not even which methods exist); only then is the verb of
the method checked, giving a member 403 when their level is too low.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import render

from .. import selectors
from ..permissions import VERB_LEVEL, Access, can

LAST_ORG = "dc_last_org"  # the session's last organization page, shown first next time


def org_view(*, read: str | None = "view", write: str | None = None):
    """A page of one organization: the view gets `(request, access, **kwargs)`.

    `read` is the verb GET needs, `write` the verb POST needs; None refuses the method (405).
    """
    verbs = {"GET": read, "HEAD": read, "POST": write}

    def decorator(func):
        @login_required
        @wraps(func)
        def wrapper(request, ns: str, **kwargs):
            access = selectors.organization_access(request=request, name=ns)
            verb = verbs.get(request.method)
            if verb is None:
                return HttpResponseNotAllowed([m for m, v in verbs.items() if v])
            if not can(access, verb):
                raise PermissionDenied
            if request.session.get(LAST_ORG) != access.organization.name:
                request.session[LAST_ORG] = access.organization.name  # the switcher's default
            return func(request, access, **kwargs)

        return wrapper

    return decorator


def render_org(request, template: str, access: Access, context: dict | None = None, **kwargs):
    """Render an organization page; templates test `can.manage`, `can.change`, ..."""
    base = {
        "access": access,
        "org": access.organization,
        "can": {verb: can(access, verb) for verb in VERB_LEVEL},
    }
    return render(request, template, base | (context or {}), **kwargs)


def no_store(response):
    """For pages that show a secret once: keep it out of caches and the back-button history."""
    response["Cache-Control"] = "no-store"
    return response
