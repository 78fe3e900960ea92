"""Signup, logout and the lockout page; login and passwords are Django's views (see urls)."""

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .. import services
from ..audit import Actor
from ..forms import PasswordChangeForm, SetPasswordForm, SignupForm, apply_errors

# Signup sets the password itself, so the session is bound to the backend that checks it.
SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"


def lockout(request, credentials, *args, **kwargs):
    """Axes calls this when a username/address pair is locked out."""
    return render(request, "accounts/lockout.html", status=429)


@require_http_methods(["GET", "HEAD", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("accounts:dashboard")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.user_signup(
                username=data["username"],
                email=data["email"],
                password=data["password"],
                ip=Actor.from_request(request).ip,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            login(request, user, backend=SESSION_BACKEND)
            return redirect("accounts:dashboard")
    return render(request, "registration/signup.html", {"form": form})


class LogoutView(auth_views.LogoutView):
    """Django's, and the live sockets of the session close: another tab stops updating."""

    def post(self, request, *args, **kwargs):
        session_key = request.session.session_key
        response = super().post(request, *args, **kwargs)
        if session_key:
            services.session_sockets_close(session_key=session_key)
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = PasswordChangeForm

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        form.actor = Actor.from_request(self.request)
        return form


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = SetPasswordForm

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        form.actor = Actor(user=self.user, ip=Actor.from_request(self.request).ip)
        return form
