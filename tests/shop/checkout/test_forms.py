"""The checkout form: the country is picked from a list, the store's own chosen already."""
import pytest

from shop.checkout.forms import CheckoutForm

pytestmark = pytest.mark.django_db  # the form asks the newsletter settings what to offer

ADDRESS = {
    "first_name": "Ann", "last_name": "Smith", "email": "ann@example.com",
    "address_line1": "1 High Street", "city": "Hilltown", "postcode": "HT1 1AA",
}


def test_the_country_is_a_list_with_the_stores_country_chosen_and_first():
    html = str(CheckoutForm()["country"])
    assert html.startswith('<select name="country" autocomplete="country"')
    first_option = html.split("<option", 2)[1]
    assert 'value="GB" selected>United Kingdom' in first_option
    assert '<option value="DE">Germany</option>' in html
    assert '<option value="" disabled>──────────</option>' in html  # a line, not a choice
    assert html.count("<option") > 240


def test_the_preselected_country_follows_the_setting(settings):
    settings.STORE_DEFAULT_COUNTRY = "DE"
    assert CheckoutForm()["country"].value() == "DE"


def test_a_chosen_country_is_stored_as_its_code():
    form = CheckoutForm(data={**ADDRESS, "country": "DE"})
    assert form.is_valid(), form.errors
    assert form.order_details()["country"] == "DE"


@pytest.mark.parametrize("country", ["", "UK", "Narnia", "XX"])
def test_a_missing_or_unknown_country_is_refused_in_words(country):
    form = CheckoutForm(data={**ADDRESS, "country": country})
    assert not form.is_valid()
    assert form.errors["country"] == ["Please choose your country from the list."]
