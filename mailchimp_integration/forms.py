"""Forms of the Mailchimp settings page and the lists page's in-place toggles."""
import re

from django import forms
from django.conf import settings

API_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_]+-[a-z]+[0-9]+$")


class ApiKeyForm(forms.Form):
    """A new API key, checked for its form here; a worker then asks Mailchimp, and saves it
    only if Mailchimp does not refuse it."""

    api_key = forms.CharField(
        label="New API key",
        required=False,
        strip=True,
        max_length=200,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}
        ),
        help_text="From Mailchimp: Profile → Extras → API keys. It ends with your data centre, "
        "e.g. -us6. It is stored encrypted and never shown again.",
    )

    def __init__(self, *args, require_key: bool = True, **kw):
        super().__init__(*args, **kw)
        self.require_key = require_key

    def clean_api_key(self) -> str:
        api_key = self.cleaned_data["api_key"]
        if not api_key:
            if self.require_key:
                raise forms.ValidationError("Enter the API key.")
            return ""
        if not settings.MAILCHIMP_API_URL and not API_KEY_PATTERN.match(api_key):
            raise forms.ValidationError(
                "This does not look like a Mailchimp API key: it should be letters and digits "
                "ending with the data centre, e.g. …-us6."
            )
        return api_key


class FlagChangeForm(forms.Form):
    """One toggle on the lists page: {kind, id, field, value} as JSON."""

    KINDS = [("audience", "audience"), ("interest", "group")]
    FIELDS = [("active", "active"), ("subscribe_by_default", "subscribe by default")]

    kind = forms.ChoiceField(choices=KINDS)
    id = forms.IntegerField(min_value=1)
    field = forms.ChoiceField(choices=FIELDS)
    value = forms.BooleanField(required=False)

    def clean(self):
        cleaned = super().clean()
        raw = self.data.get("value")
        if not isinstance(raw, bool):
            raise forms.ValidationError("value must be true or false.")
        cleaned["value"] = raw
        return cleaned
