"""Orders placed before the country list: the words typed become a country's code."""
import importlib

import pytest

migration = importlib.import_module("shop.checkout.migrations.0003_order_country_names_to_codes")


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("United Kingdom", "GB"), ("UK", "GB"), (" great  Britain ", "GB"), ("Scotland", "GB"),
        ("germany", "DE"), ("FR", "FR"), ("FRA", "FR"), ("USA", "US"),
        ("United States of America", "US"), ("Narnia", ""), ("", ""), ("XX", ""),
    ],
)
def test_country_code_of_what_a_customer_typed(typed, code):
    assert migration.country_code(typed) == code
