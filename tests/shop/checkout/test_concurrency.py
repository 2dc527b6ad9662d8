"""Two checkouts for the last unit: the row lock makes the second wait, then refuses it."""
import threading
import time

import pytest
from django.db import connection, connections, transaction

from shop.cart.cart import Cart
from shop.catalogue.models import Variant
from shop.checkout.models import Order
from shop.checkout.services import OutOfStockError, order_place
from tests.shop.catalogue.factories import VariantFactory

DETAILS = {
    "email": "late@example.com",
    "first_name": "Late",
    "last_name": "Comer",
    "address_line1": "2 High Street",
    "city": "Hilltown",
    "postcode": "HT1 1AA",
    "country": "GB",
}


@pytest.mark.django_db(transaction=True)
def test_the_second_checkout_waits_for_the_first_and_is_refused(session):
    if not connection.features.has_select_for_update:
        pytest.skip("SQLite has no row locks (it serialises writers instead)")
    variant = VariantFactory(stock=1)
    cart = Cart(session)
    cart.set(variant.pk, 1)
    outcome = {}

    def second_checkout():
        try:
            order_place(cart=cart, user=None, **DETAILS)
            outcome["result"] = "placed"
        except OutOfStockError:
            outcome["result"] = "out of stock"
        finally:
            connections.close_all()

    with transaction.atomic():
        # The first checkout: holds the lock and takes the last unit.
        locked = Variant.objects.select_for_update().get(pk=variant.pk)
        locked.stock = 0
        locked.save(update_fields=["stock"])
        thread = threading.Thread(target=second_checkout)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "the second checkout should be waiting for the row lock"

    thread.join(timeout=10)
    assert outcome == {"result": "out of stock"}
    assert not Order.objects.exists()
    variant.refresh_from_db()
    assert variant.stock == 0
