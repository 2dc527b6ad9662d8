"""Celery tasks of the checkout: what happens after an order is placed."""
from celery import shared_task


@shared_task(
    name="checkout.order_confirmation_send",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def order_confirmation_send(order_id: int) -> None:
    from .services import order_confirmation_email

    order_confirmation_email(order_id=order_id)


@shared_task(name="checkout.order_confirmation_sweep")
def order_confirmation_sweep() -> int:
    from .services import order_confirmation_sweep

    return order_confirmation_sweep()
