"""The portal's form for an organization's maintenance settings (shape only: the service owns
the rules)."""

from django import forms

from .models import MAX_KEEP_PATTERNS, MAX_LOG_FILES_KEPT


class SettingsForm(forms.Form):
    ssh_user = forms.CharField(max_length=32, label="SSH user on the nodes")
    ssh_team = forms.ChoiceField(
        required=False, label="Whose keys", help_text="Every member's, or one team's members'."
    )
    clock_skew_max = forms.FloatField(
        required=False,
        min_value=0.01,
        max_value=3600,
        label="Clock skew allowed (seconds)",
        help_text="Empty: the control plane's default.",
    )
    clock_sync_command = forms.CharField(
        required=False,
        max_length=1000,
        label="Clock sync command",
        help_text="Empty: chrony, timedatectl or ntpdate, whichever the host has.",
    )
    log_files_kept = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_LOG_FILES_KEPT,
        label="Rotated log files kept per container",
        help_text="Each at most 10 MB, besides the current one. Empty: the default.",
    )
    image_unused_minutes = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=525600,
        label="Remove images unused for (minutes)",
        help_text="Empty: the default.",
    )
    image_keep = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Images never removed",
        help_text="One a line: a name (redis), a tag (redis:7), a pattern (mycorp/*) or an id.",
    )

    def __init__(self, *args, teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "Every member")] + [(str(t.uuid), f"Team {t.name}") for t in teams]
        self.fields["ssh_team"].choices = choices  # type: ignore[attr-defined]  # a ChoiceField

    def clean_image_keep(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["image_keep"].splitlines()]
        lines = [line for line in lines if line]
        if len(lines) > MAX_KEEP_PATTERNS:
            raise forms.ValidationError(f"At most {MAX_KEEP_PATTERNS} lines.")
        return lines
