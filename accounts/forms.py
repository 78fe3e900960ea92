"""Portal forms. They check shape only; services own the rules and raise field errors.

`apply_errors` puts a service's `ValidationError({field: [messages]})` on the form, so the
page shows the same messages the API returns.
"""

from typing import TYPE_CHECKING, cast

from django import forms
from django.contrib import messages as django_messages
from django.contrib.auth import forms as auth_forms
from django.core.exceptions import ValidationError

from .audit import Actor
from .models import Organization, Permission, Role, Team
from .services import user_password_set


def apply_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's errors on `form`: on the named field when it has one, else on top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, messages in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


def error_text(exc: ValidationError) -> str:
    """One line for a flash message, from a service's errors."""
    return " ".join(exc.messages)


def flash_errors(request, exc: ValidationError, fields: tuple[str, ...] = ()) -> None:
    """A refused POST's errors for the page it redirects to: those of `fields` (the posted
    form's own) beside their field (templates/_field_error.html), the rest on top."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
    for field, texts in errors.items():
        tags = f"field-{field}" if field in fields else ""
        django_messages.error(request, " ".join(texts), extra_tags=tags)


class SignupForm(forms.Form):
    username = forms.CharField(max_length=30, help_text="Also the name of your organization.")
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput(render_value=False))
    password2 = forms.CharField(label="Password (again)", widget=forms.PasswordInput)

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data


if TYPE_CHECKING:  # the mixin goes before one of Django's password forms
    _PasswordFormBase = auth_forms.SetPasswordForm
else:
    _PasswordFormBase = object


class _PasswordThroughService(_PasswordFormBase):
    """Django's password forms, saving through `user_password_set` (audited; the user's live
    sockets close). The view sets `actor`."""

    actor = None

    def save(self, commit=True):
        actor = self.actor or Actor(user=self.user)
        user_password_set(actor=actor, user=self.user, password=self.cleaned_data["new_password1"])
        return self.user


class PasswordChangeForm(_PasswordThroughService, auth_forms.PasswordChangeForm):
    pass


class SetPasswordForm(_PasswordThroughService, auth_forms.SetPasswordForm):
    pass


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(max_length=30, help_text="Lowercase letters, digits, '-' or '_'.")
    display_name = forms.CharField(max_length=100, required=False)


class OrganizationUpdateForm(forms.Form):
    display_name = forms.CharField(max_length=100, required=False)


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TeamForm(forms.Form):
    name = forms.CharField(max_length=50)
    permission = forms.ChoiceField(choices=Permission.choices, initial=Permission.READ)


class TeamEditForm(TeamForm):
    members = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, choices=()
    )

    def __init__(self, *args, usernames: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        members = cast(forms.MultipleChoiceField, self.fields["members"])
        members.choices = [(name, name) for name in usernames]


class InvitationForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, to_field_name="uuid", empty_label="(no team)"
    )

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["team"]).queryset = teams


class ServiceAccountForm(forms.Form):
    name = forms.CharField(max_length=30, help_text="Lowercase letters, digits, '-' or '_'.")
    role = forms.ChoiceField(choices=[(Role.MEMBER, "member"), (Role.ADMIN, "admin")])


class ApiKeyForm(forms.Form):
    label = forms.CharField(max_length=100)
    read_only = forms.BooleanField(required=False, label="Read-only")
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class UserApiKeyForm(ApiKeyForm):
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(),
        required=False,
        to_field_name="name",
        empty_label="(all my organizations)",
        help_text="The key works only on this organization.",
    )

    field_order = ["label", "read_only", "organization", "expires_at"]

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["organization"]).queryset = organizations


class SshKeyForm(forms.Form):
    label = forms.CharField(max_length=100, required=False, help_text="Defaults to the comment.")
    public_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "ssh-ed25519 AAAA… you@host"})
    )
