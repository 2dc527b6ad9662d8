"""The quantity a customer types, checked before the cart services see it."""
from django import forms

from shop.catalogue.templatetags.money import money

QUANTITY_ERRORS = {
    "required": "Please enter a quantity.",
    "invalid": "Please enter the quantity as a whole number, for example 1 or 2.",
    "min_value": "Please choose a quantity of at least 1.",
    "max_value": "That quantity is too large. Please choose a smaller number.",
}


class QuantityForm(forms.Form):
    quantity = forms.IntegerField(
        min_value=1,
        max_value=999,
        initial=1,
        error_messages=QUANTITY_ERRORS,
        widget=forms.NumberInput(attrs={"min": 1, "max": 999, "class": "quantity"}),
    )


class AddToCartForm(QuantityForm):
    variant = forms.TypedChoiceField(
        label="Option",
        coerce=int,
        error_messages={
            "required": "Please choose an option.",
            "invalid_choice": "Please choose one of the options shown.",
        },
    )

    field_order = ["variant", "quantity"]

    def __init__(self, *args, variants, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["variant"].choices = [
            (variant.pk, variant_label(variant)) for variant in variants
        ]


def variant_label(variant) -> str:
    label = f"{variant.name} – {money(variant.price)}"
    return label if variant.in_stock else f"{label} (out of stock)"


def first_error(form: forms.Form) -> str:
    """The first problem with a form, in the words the customer should read."""
    for errors in form.errors.values():
        if errors:
            return errors[0]
    return "Something in that form needs another look."


class PromoCodeForm(forms.Form):
    code = forms.CharField(
        label="Promo code", max_length=50,
        error_messages={"required": "Please enter a promo code."},
    )


class CartEmailForm(forms.Form):
    email = forms.EmailField(
        max_length=254,
        error_messages={
            "required": "Please enter your email address.",
            "invalid": "Please enter a valid email address, like name@example.com.",
        },
    )
