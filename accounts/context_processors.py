from .selectors import organizations_for_user
from .views.base import LAST_ORG


def organizations(request):
    """The signed-in user's organizations, for the portal's navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    organizations = list(organizations_for_user(user=user))
    last = request.session.get(LAST_ORG, "")
    return {
        "nav_organizations": organizations,
        # Only while the user still belongs to it.
        "nav_last_org": last if any(o.name == last for o in organizations) else "",
    }
