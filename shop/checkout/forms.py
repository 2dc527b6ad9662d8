"""The checkout form: who is buying and where it goes."""
from django import forms
from django.conf import settings
from django_countries import countries
from django_countries.fields import LazyTypedChoiceField

from subscriptions.forms import NEWS_FORM_TEMPLATE, news_fields_add

from .models import Order


class CountrySelect(forms.Select):
    """The country list, its line under the store's own country not a choice."""

    def create_option(self, name, value, *args, **kwargs):
        option = super().create_option(name, value, *args, **kwargs)
        if value == "":
            option["attrs"]["disabled"] = True
        return option


class CheckoutForm(forms.ModelForm):
    """Name, email and address. Extend by subclassing (e.g. a newsletter opt-in field)."""

    template_name = NEWS_FORM_TEMPLATE  # its own fields, then the newsletter opt-in

    # A list to pick from, the store's own country chosen already (no empty first choice).
    country = LazyTypedChoiceField(
        choices=countries,
        label="Country",
        widget=CountrySelect(attrs={"autocomplete": "country"}),
        error_messages={
            "required": "Please choose your country from the list.",
            "invalid_choice": "Please choose your country from the list.",
        },
    )

    class Meta:
        model = Order
        fields = [
            "first_name",
            "last_name",
            "email",
            "address_line1",
            "address_line2",
            "city",
            "postcode",
            "country",
        ]
        error_messages = {
            "email": {
                "invalid": "Please enter a valid email address, like name@example.com.",
                "required": "Please enter your email address so we can confirm your order.",
            },
            "first_name": {"required": "Please enter your first name."},
            "last_name": {"required": "Please enter your last name."},
            "address_line1": {"required": "Please enter the first line of your address."},
            "city": {"required": "Please enter your town or city."},
            "postcode": {"required": "Please enter your postcode."},
        }
        widgets = {
            "email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "first_name": forms.TextInput(attrs={"autocomplete": "given-name"}),
            "last_name": forms.TextInput(attrs={"autocomplete": "family-name"}),
            "address_line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "address_line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "postcode": forms.TextInput(attrs={"autocomplete": "postal-code"}),
        }

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].initial = settings.STORE_DEFAULT_COUNTRY
        # The newsletter opt-in (subscriptions app); a signed-in customer sees their lists.
        news_fields_add(self, user=user, source="checkout")

    def order_details(self) -> dict:
        """The keyword arguments `order_place` takes from this form."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}
