"""Portal forms for credentials, built from the driver's declared fields.

Secret inputs never render a value back (not even after an error). On the edit form a blank
secret keeps the stored one; a checkbox removes an optional stored secret.
"""

from django import forms

from .drivers import ProviderDriver
from .services import PLACEHOLDER


class CredentialForm(forms.Form):
    name = forms.CharField(max_length=100)

    def __init__(self, *args, driver: type[ProviderDriver], credential=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.driver, self.credential = driver, credential
        stored = set(credential.secret_fields) if credential else set()
        for field in driver.fields:
            help_text = field.help
            widget: forms.Widget | type[forms.Widget]
            if field.secret:
                widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
                if field.name in stored:
                    help_text = f"{help_text} Stored; leave blank to keep it.".strip()
            else:
                widget = forms.TextInput
            self.fields[field.name] = forms.CharField(
                label=field.label, required=False, help_text=help_text, widget=widget
            )
            if field.name in stored and not field.required:
                self.fields[f"clear_{field.name}"] = forms.BooleanField(
                    label=f"Remove the stored {field.label.lower()}", required=False
                )
        if credential is not None:
            self.initial.setdefault("name", credential.name)
            for key, value in credential.config.items():
                self.initial.setdefault(key, value)

    def values(self) -> dict[str, str]:
        """Field values for the service: on edit, blank secrets become the keep-placeholder."""
        stored = set(self.credential.secret_fields) if self.credential else set()
        values = {}
        for field in self.driver.fields:
            value = self.cleaned_data.get(field.name, "")
            if self.cleaned_data.get(f"clear_{field.name}"):
                values[field.name] = ""
            elif field.secret and not value and field.name in stored:
                values[field.name] = PLACEHOLDER
            elif value or self.credential is not None:
                values[field.name] = value
        return values
