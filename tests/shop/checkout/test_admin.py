"""The orders' back-office pages."""
import pytest
from django.urls import reverse

from shop.checkout.models import Order
from tests.shop.checkout.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


def test_order_changelist_filters_and_search(admin_client):
    line = OrderLineFactory(order__number="FINDME12", order__email="buyer@example.com")
    OrderFactory(number="OTHER123", status=Order.Status.SHIPPED)
    url = reverse("admin:checkout_order_changelist")
    page = admin_client.get(url).content.decode()
    assert "FINDME12" in page and "OTHER123" in page
    found = admin_client.get(url, {"q": "buyer@example.com"}).content.decode()
    assert "FINDME12" in found and "OTHER123" not in found
    shipped = admin_client.get(url, {"status__exact": "shipped"}).content.decode()
    assert "OTHER123" in shipped and "FINDME12" not in shipped
    assert admin_client.get(url, {"created__year": line.order.created.year}).status_code == 200


def test_order_change_page_shows_the_lines(admin_client):
    line = OrderLineFactory(product_name="Enamel Mug", sku="MUG-BLU")
    response = admin_client.get(reverse("admin:checkout_order_change", args=[line.order_id]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Enamel Mug" in page and "MUG-BLU" in page


def test_orders_cannot_be_added_in_the_admin(admin_client):
    assert admin_client.get(reverse("admin:checkout_order_add")).status_code == 403


def test_an_order_shows_its_country_by_name_and_can_be_filtered_by_it(admin_client):
    german = OrderFactory(number="GERMAN12", country="DE")
    OrderFactory(number="BRITISH1", country="GB")
    change = admin_client.get(reverse("admin:checkout_order_change", args=[german.pk]))
    assert '<div class="readonly">Germany</div>' in change.content.decode()
    url = reverse("admin:checkout_order_changelist")
    filtered = admin_client.get(url, {"country__exact": "DE"}).content.decode()
    assert "GERMAN12" in filtered and "BRITISH1" not in filtered


def order_action(admin_client, order, action, **data):
    return admin_client.post(
        reverse("admin:checkout_order_change", args=[order.pk]),
        {"_order_action": action, **data},
        follow=True,
    )


def test_the_status_is_read_only_and_the_buttons_are_shown(admin_client):
    order = OrderFactory()
    page = admin_client.get(reverse("admin:checkout_order_change", args=[order.pk]))
    content = page.content.decode()
    assert 'name="status"' not in content
    for label in ("Mark paid", "Mark shipped", "Cancel", "Refund"):
        assert label in content


def test_admin_buttons_move_the_order(admin_client):
    order = OrderFactory(total="20.00")
    order_action(admin_client, order, "mark_paid")
    order_action(admin_client, order, "refund", refund_amount="5")
    response = order_action(admin_client, order, "mark_shipped", tracking_number="TR-9")
    assert "marked shipped" in response.content.decode()
    order.refresh_from_db()
    assert (order.status, order.tracking_number) == (Order.Status.SHIPPED, "TR-9")
    assert str(order.refunded_total) == "5.00"


def test_admin_errors_are_messages(admin_client):
    order = OrderFactory(total="20.00")
    response = order_action(admin_client, order, "mark_shipped", tracking_number="")
    assert "Enter the tracking number" in response.content.decode()
    order_action(admin_client, order, "mark_paid")
    response = order_action(admin_client, order, "refund", refund_amount="abc")
    assert "Enter the amount to refund" in response.content.decode()
    response = order_action(admin_client, order, "refund", refund_amount="25")
    assert "at most 20.00" in response.content.decode()
    order_action(admin_client, order, "mark_shipped", tracking_number="T")
    response = order_action(admin_client, order, "cancel")
    assert "not yet shipped" in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
