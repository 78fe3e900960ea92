from .selectors import organizations_for_user


def organizations(request):
    """The signed-in user's organizations, for the portal's navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_organizations": organizations_for_user(user=user)}
