"""Portal pages for accounts: signup, login, dashboard, organizations, keys."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


def lockout(request, credentials, *args, **kwargs):
    """Axes calls this when a username/address pair is locked out."""
    return render(request, "accounts/lockout.html", status=429)


@login_required
def dashboard(request):
    return render(request, "accounts/dashboard.html")
