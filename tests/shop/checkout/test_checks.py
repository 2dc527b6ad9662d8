"""The start-up check of the country preselected at checkout."""
from shop.checkout.checks import store_default_country_check


def test_a_known_country_passes(settings):
    settings.STORE_DEFAULT_COUNTRY = "IE"
    assert store_default_country_check(None) == []


def test_an_unknown_country_is_reported_with_a_hint(settings):
    settings.STORE_DEFAULT_COUNTRY = "UK"
    [error] = store_default_country_check(None)
    assert error.id == "checkout.E001" and "'UK'" in error.msg and "GB" in error.hint
