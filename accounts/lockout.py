"""What a caller sees when login throttling (django-axes) locks a username/address pair out."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render


def lockout(request, credentials, *args, **kwargs):
    minutes = round(settings.AXES_COOLOFF_TIME * 60)
    message = f"Too many failed logins. Try again in {minutes} minutes."
    if request.path.startswith("/api/"):
        # The API answers as for any credentials it does not accept now (401, which clients
        # already handle), with when to try again; the portal shows its own page (429).
        response = JsonResponse({"error": message}, status=401)
        response["WWW-Authenticate"] = 'Basic realm="dockercloud"'
        response["Retry-After"] = str(round(settings.AXES_COOLOFF_TIME * 3600))
        return response
    return render(request, "accounts/lockout.html", {"message": message}, status=429)
