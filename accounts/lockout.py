"""What a caller sees when login throttling (django-axes) locks a username/address pair out."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render


def lockout(request, credentials, *args, **kwargs):
    minutes = round(settings.AXES_COOLOFF_TIME * 60)
    message = f"Too many failed logins. Try again in {minutes} minutes."
    if request.path.startswith("/api/"):
        return JsonResponse({"error": message}, status=429)
    return render(request, "accounts/lockout.html", {"message": message}, status=429)
