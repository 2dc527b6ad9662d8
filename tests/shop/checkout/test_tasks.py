"""The order confirmation: sent by a real Celery worker after the order's transaction commits."""
from pathlib import Path

import pytest
from django.urls import reverse

from shop.checkout.models import Order
from shop.checkout.services import order_confirmation_email
from tests.conftest import wait_for
from tests.shop.catalogue.factories import VariantFactory
from tests.shop.checkout.factories import OrderFactory
from tests.shop.checkout.test_views import ADDRESS


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_checkout_sends_the_confirmation_through_a_real_worker(
    celery_worker_process, worker_extra_env, client, client_cart
):
    client_cart(VariantFactory(stock=5), 2)
    response = client.post(reverse("checkout:checkout"), ADDRESS)
    assert response.status_code == 302
    order = Order.objects.get()
    # The request returned before the worker did anything: the task runs only on commit.
    sent = wait_for(
        lambda: Order.objects.filter(pk=order.pk, confirmation_sent_at__isnull=False).exists(),
        timeout=30,
        message="the worker did not send the order confirmation",
    )
    assert sent
    mail_dir = Path(worker_extra_env["EMAIL_FILE_PATH"])
    mails = wait_for(lambda: [p.read_text() for p in mail_dir.iterdir()], timeout=5)
    assert any(f"your order {order.number}" in mail and "ann@example.com" in mail for mail in mails)


@pytest.mark.django_db
def test_the_confirmation_is_sent_once(mailoutbox):
    order = OrderFactory()
    assert order_confirmation_email(order_id=order.pk) is True
    assert order_confirmation_email(order_id=order.pk) is False
    assert len(mailoutbox) == 1
    assert order.number in mailoutbox[0].subject


@pytest.mark.django_db
def test_a_failed_send_releases_the_claim(settings):
    settings.EMAIL_BACKEND = "tests.shop.checkout.test_tasks.BrokenBackend"
    order = OrderFactory()
    with pytest.raises(OSError):
        order_confirmation_email(order_id=order.pk)
    order.refresh_from_db()
    assert order.confirmation_sent_at is None


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("SMTP server unreachable")


@pytest.mark.django_db
@pytest.mark.parametrize("lists, confirm, says", [
    (["Newsletter", "Events"], False, "You are signed up for our news (Newsletter, Events)."),
    (["Newsletter"], True, "Please check your inbox"),
    ([], False, "the list was not open for signups"),
])
def test_the_confirmation_email_mentions_the_newsletter_choice(mailoutbox, lists, confirm, says):
    from shop.checkout.services import order_news_choice_record

    order = order_news_choice_record(order=OrderFactory(), lists=lists,
                                     confirmation_needed=confirm)
    order_confirmation_email(order_id=order.pk)
    assert says in mailoutbox[0].body


@pytest.mark.django_db
def test_the_confirmation_email_is_silent_when_no_choice_was_made(mailoutbox):
    order_confirmation_email(order_id=OrderFactory().pk)
    assert "news" not in mailoutbox[0].body
