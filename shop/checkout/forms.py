"""The checkout form: who is buying and where it goes."""
from django import forms

from subscriptions.forms import NEWS_FORM_TEMPLATE, news_fields_add

from .models import Order


class CheckoutForm(forms.ModelForm):
    """Name, email and address. Extend by subclassing (e.g. a newsletter opt-in field)."""

    template_name = NEWS_FORM_TEMPLATE  # its own fields, then the newsletter opt-in

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
            "country": {"required": "Please enter your country."},
        }
        widgets = {
            "email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "first_name": forms.TextInput(attrs={"autocomplete": "given-name"}),
            "last_name": forms.TextInput(attrs={"autocomplete": "family-name"}),
            "address_line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "address_line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "postcode": forms.TextInput(attrs={"autocomplete": "postal-code"}),
            "country": forms.TextInput(attrs={"autocomplete": "country-name"}),
        }

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The newsletter opt-in (subscriptions app); a signed-in customer sees their lists.
        news_fields_add(self, user=user)

    def order_details(self) -> dict:
        """The keyword arguments `order_place` takes from this form."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}
