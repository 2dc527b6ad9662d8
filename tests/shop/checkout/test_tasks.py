"""The order confirmation: sent by a real Celery worker after the order's transaction commits,
or by the sweeper when that did not happen."""
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from shop.cart.cart import Cart
from shop.checkout.models import Order
from shop.checkout.services import order_confirmation_email
from shop.checkout.tasks import order_confirmation_sweep
from tests.conftest import wait_for
from tests.processes import celery_app_broker, free_port
from tests.shop.catalogue.factories import VariantFactory
from tests.shop.checkout.factories import OrderFactory
from tests.shop.checkout.test_views import ADDRESS


def mails_to(worker_extra_env, order_number: str) -> list[str]:
    mail_dir = Path(worker_extra_env["EMAIL_FILE_PATH"])
    return [
        text for text in (path.read_text() for path in mail_dir.iterdir())
        if f"your order {order_number}" in text
    ]


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
    mails = wait_for(lambda: mails_to(worker_extra_env, order.number), timeout=5)
    assert len(mails) == 1 and "ann@example.com" in mails[0]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_checkout_confirms_the_order_and_the_sweeper_sends_the_email(
    celery_worker_process, worker_extra_env, client, client_cart
):
    variant = VariantFactory(stock=5)
    client_cart(variant, 2)
    with celery_app_broker(f"redis://127.0.0.1:{free_port()}/0"):  # nothing listens there
        response = client.post(reverse("checkout:checkout"), ADDRESS, follow=True)
        order = Order.objects.get()
        # The customer sees their order, and their cart is empty: a second try orders nothing.
        assert response.status_code == 200
        assert response.redirect_chain[-1][0] == reverse(
            "checkout:confirmation", args=[order.number]
        )
        assert "Thank you for your order" in response.content.decode()
        assert Cart(client.session).quantities() == {}
        client.post(reverse("checkout:checkout"), ADDRESS)
        assert Order.objects.count() == 1
    variant.refresh_from_db()
    assert variant.stock == 3
    order.refresh_from_db()
    assert order.confirmation_sent_at is None and order.confirmation_claimed_at is None

    # The broker is back: the beat job finds the unsent confirmation and a worker sends it.
    order_confirmation_sweep.delay()
    wait_for(
        lambda: Order.objects.filter(pk=order.pk, confirmation_sent_at__isnull=False).exists(),
        timeout=30,
        message="the sweeper did not send the order confirmation",
    )
    assert len(wait_for(lambda: mails_to(worker_extra_env, order.number), timeout=5)) == 1
    order_confirmation_sweep.delay()  # a second sweep finds nothing more to send
    order_confirmation_sweep.apply()  # (in this process too, once the worker's is done)
    assert len(mails_to(worker_extra_env, order.number)) == 1


def test_the_confirmation_sweep_is_a_beat_job_on_the_maintenance_queue(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["checkout-order-confirmation-sweep"]
    assert entry["task"] == order_confirmation_sweep.name
    route = settings.CELERY_TASK_ROUTES[order_confirmation_sweep.name]
    assert route == {"queue": settings.CELERY_MAINTENANCE_QUEUE}
    assert settings.CELERY_MAINTENANCE_QUEUE != settings.CELERY_TASK_DEFAULT_QUEUE
    from shop.celery import app

    assert app.amqp.router.route({}, order_confirmation_sweep.name)["queue"].name == (
        settings.CELERY_MAINTENANCE_QUEUE)


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
    assert order.confirmation_sent_at is None and order.confirmation_claimed_at is None


@pytest.mark.django_db
def test_a_confirmation_another_worker_is_sending_is_not_sent_twice(mailoutbox):
    order = OrderFactory(confirmation_claimed_at=timezone.now() - timedelta(seconds=5))
    assert order_confirmation_email(order_id=order.pk) is False
    assert mailoutbox == []


@pytest.mark.django_db
def test_a_confirmation_claimed_by_a_worker_that_died_is_sent_again(mailoutbox, settings):
    settings.CELERY_TASK_TIME_LIMIT = 360
    order = OrderFactory(confirmation_claimed_at=timezone.now() - timedelta(seconds=361))
    assert order_confirmation_email(order_id=order.pk) is True
    assert len(mailoutbox) == 1
    order.refresh_from_db()
    assert order.confirmation_sent_at is not None


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
