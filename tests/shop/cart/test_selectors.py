"""The priced view of a cart."""
from decimal import Decimal

import pytest

from shop.cart.selectors import cart_summary
from tests.shop.catalogue.factories import VariantFactory

pytestmark = pytest.mark.django_db


def test_summary_prices_lines_and_drops_what_is_gone(cart):
    mug = VariantFactory(price=Decimal("12.00"), stock=1)
    tee = VariantFactory(price=Decimal("5.50"))
    hidden = VariantFactory(product__active=False)
    cart.set(mug.pk, 2)
    cart.set(tee.pk, 1)
    cart.set(hidden.pk, 1)
    cart.set(999999, 1)

    summary = cart_summary(cart=cart)
    assert {line.variant for line in summary.lines} == {mug, tee}
    assert summary.total == Decimal("29.50")
    assert summary.item_count == 3
    assert sorted(summary.unavailable_ids) == sorted([hidden.pk, 999999])
    assert not next(line for line in summary.lines if line.variant == mug).enough_stock
