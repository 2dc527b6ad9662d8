""""Sync store data" (the e-commerce backfill) over HTTP against the sandbox: products, promo
codes and orders go through /batches while the store is marked is_syncing; refusals show on
their records with Mailchimp's words; a rerun changes nothing; a dead worker's run is failed
by the watchdog and resumed where it stopped; the command's summary and exit codes."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from mailchimp_integration import ecommerce, ecommerce_backfill
from mailchimp_integration.models import (
    Audience,
    ConnectedStore,
    EcommerceRecord,
    StoreBackfill,
)
from mailchimp_integration.services import mailchimp_client_build
from shop.catalogue.models import Product, Variant
from shop.checkout.models import Order, OrderLine
from shop.promotions.models import PromoCode
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]

Kind = EcommerceRecord.Kind


@pytest.fixture
def audience(connected, settings):
    settings.SITE_URL = "https://shop.example.com"
    settings.ECOMMERCE_BACKFILL_POLL_SECONDS = 0.05
    list_id = connected.create_list("Newsletter")
    return Audience.objects.create(mailchimp_id=list_id, name="Newsletter", active=True,
                                   last_seen_at=timezone.now())


def variant_made(name="Mug", price="12.50") -> Variant:
    product = Product.objects.create(name=name, slug=name.lower())
    return Variant.objects.create(product=product, sku=f"{name}-1", name="Blue",
                                  price=Decimal(price), stock=10)


def order_made(variant, *, quantity=2, campaign_id="") -> Order:
    subtotal = variant.price * quantity
    with transaction.atomic():
        order = Order.objects.create(
            number=f"N{Order.objects.count() + 1:07d}", email="ann@example.com",
            first_name="Ann", last_name="Lee", address_line1="1 High St", city="Leeds",
            postcode="LS1 1AA", country="GB", subtotal=subtotal, discount_total=Decimal(0),
            total=subtotal, campaign_id=campaign_id)
        OrderLine.objects.create(order=order, variant=variant, product_name=variant.product.name,
                                 variant_name=variant.name, sku=variant.sku,
                                 unit_price=variant.price, quantity=quantity)
    return order


def promo_made(code="SAVE10") -> PromoCode:
    return PromoCode.objects.create(code=code, kind=PromoCode.Kind.PERCENTAGE, value=10)


@pytest.fixture
def history(audience, connected):
    """Products, a promo code and orders made before the store was connected (the live path
    sends nothing then): what the backfill is for."""
    campaign = connected.create_campaign(audience.mailchimp_id)
    mug, bowl = variant_made("Mug"), variant_made("Bowl", "8.00")
    promo = promo_made()
    orders = [order_made(mug, campaign_id=campaign), order_made(bowl),
              order_made(mug, quantity=1, campaign_id=campaign)]
    return {"campaign": campaign, "variants": [mug, bowl], "promo": promo, "orders": orders}


@pytest.fixture
def store(audience, history):
    return ecommerce.store_connect(client=mailchimp_client_build(), audience=audience).store


def run(store, **kwargs) -> StoreBackfill:
    backfill = ecommerce_backfill.backfill_start(store=store, queue=False, **kwargs)
    ecommerce_backfill.backfill_run(backfill.pk)
    backfill.refresh_from_db()
    return backfill


def store_patches(sandbox, store) -> list[dict]:
    return [entry["body"] for entry in sandbox.request_log() if entry["method"] == "PATCH"
            and entry["path"].endswith(f"/ecommerce/stores/{store.store_id}")]


def batch_operations(sandbox) -> list[dict]:
    return [op for entry in sandbox.request_log()
            if entry["method"] == "POST" and entry["path"].endswith("/batches")
            for op in entry.get("operations", [])]


def test_products_promos_and_orders_land_with_lines_while_the_store_is_syncing(
    connected, store, history
):
    backfill = run(store)

    assert (backfill.state, backfill.done, backfill.failed) == ("finished", 6, 0)
    # Two batches: products with the promo rules; then, once both landed, the promo codes
    # (which need their rules) with the orders (which need their products).
    assert backfill.batches == 2
    batches = [{op["operation_id"].split(":")[0] for op in entry["operations"]}
               for entry in connected.request_log()
               if entry["method"] == "POST" and entry["path"].endswith("/batches")]
    assert batches == [{"product", "promo_rule"}, {"promo_code", "order"}]
    remote = connected.ecommerce_store(store.store_id)
    assert set(remote["products"]) == {str(v.product_id) for v in history["variants"]}
    assert {o.number for o in history["orders"]} <= set(remote["orders"])
    order = remote["orders"][history["orders"][0].number]
    assert [line["quantity"] for line in order["lines"].values()] == [2]
    assert len(remote["promo_rules"]) == 1
    [rule] = remote["promo_rules"].values()
    assert any(code.get("code") == "SAVE10" for code in rule.get("promo_codes", {}).values()) \
        or "SAVE10" in str(rule)
    # Orders newest first.
    orders = [op for op in batch_operations(connected) if op["operation_id"].startswith("order")]
    assert [op["operation_id"] for op in orders] == [
        f"order:{o.pk}" for o in reversed(history["orders"])]
    # is_syncing on before anything was sent, off at the end.
    patches = store_patches(connected, store)
    assert patches[0] == {"is_syncing": True} and patches[-1] == {"is_syncing": False}
    assert remote["is_syncing"] is False
    store.refresh_from_db()
    assert store.state == ConnectedStore.State.SYNCED
    records = EcommerceRecord.objects.filter(store=store)
    assert records.count() == 6
    assert all(r.state == "synced" and r.remote_exists and r.sent_version == r.wanted_version
               and r.synced_at for r in records)


def test_a_refused_operation_shows_mailchimps_words_on_its_record(connected, store, history):
    refused = history["variants"][1].product_id
    connected.fail_status(403, times=None, route=f"/ecommerce/stores/*/products/{refused}",
                          method="PUT")
    backfill = run(store)

    # The product, and the one order that names it (Mailchimp lacks the product).
    assert (backfill.state, backfill.failed) == ("finished", 2)
    bowl_order = EcommerceRecord.objects.get(kind=Kind.ORDER,
                                             local_id=str(history["orders"][1].pk))
    assert bowl_order.state == "failed" and "product" in bowl_order.failure_reason.lower(), \
        bowl_order.failure_reason
    record = EcommerceRecord.objects.get(kind=Kind.PRODUCT, local_id=str(refused))
    assert record.state == "failed" and record.failed_permanently
    assert "datacenter that is unavailable" in record.failure_reason
    other = EcommerceRecord.objects.get(kind=Kind.PRODUCT,
                                        local_id=str(history["variants"][0].product_id))
    assert other.state == "synced"


def test_a_rerun_creates_nothing_new_and_leaves_revenue_unchanged(connected, store, history):
    run(store)
    revenue = connected.campaign_revenue(history["campaign"])
    before = connected.ecommerce_store(store.store_id)
    # A promo record lost locally: its POST meets "already exists" and is PATCHed instead.
    EcommerceRecord.objects.filter(kind=Kind.PROMO).delete()

    again = run(store)

    assert (again.state, again.failed) == ("finished", 0)
    after = connected.ecommerce_store(store.store_id)
    for collection in ("products", "orders", "promo_rules", "customers"):
        assert set(after.get(collection) or {}) == set(before.get(collection) or {})
    assert connected.campaign_revenue(history["campaign"]) == revenue
    assert revenue["orders"] == 2
    assert EcommerceRecord.objects.count() == 6
    promo = EcommerceRecord.objects.get(kind=Kind.PROMO)
    assert promo.state == "synced" and promo.remote_exists


def test_a_killed_run_is_failed_by_the_watchdog_and_is_syncing_cleared(
    connected, store, settings
):
    mailchimp_client_build().store_update(store.store_id, is_syncing=True)
    old = timezone.now() - timedelta(seconds=settings.ECOMMERCE_BACKFILL_STALE_SECONDS + 5)
    killed = StoreBackfill.objects.create(store=store, state="running", started_at=old,
                                          heartbeat_at=old, cursor={"product": 1})
    fresh_store = ConnectedStore.objects.get(pk=store.pk)
    assert fresh_store.state == ConnectedStore.State.SYNCING

    assert ecommerce_backfill.backfill_watchdog() == 1

    killed.refresh_from_db()
    assert killed.state == "failed"
    assert killed.error == "The worker stopped; press Sync store data to resume."
    assert connected.ecommerce_store(store.store_id)["is_syncing"] is False
    assert ecommerce_backfill.backfill_watchdog() == 0


def test_a_failed_run_resumes_and_sends_only_the_rest(connected, store, history, monkeypatch):
    monkeypatch.setattr(ecommerce_backfill, "PAGE_SIZE", 2)
    # Batch 1: the two products. Batch 2 (the promo rule and the newest order) meets a
    # lasting 503: the run fails there, with the products done.
    original = ecommerce_backfill.Runner.run_batch
    calls = []

    def second_fails(self, operations):
        calls.append(operations)
        if len(calls) == 2:
            connected.fail_status(503, times=None, route="/batches", method="POST")
        return original(self, operations)

    monkeypatch.setattr(ecommerce_backfill.Runner, "run_batch", second_fails)
    first = run(store)
    assert first.state == "failed" and "503" in first.error
    last_product = max(v.product_id for v in history["variants"])
    assert first.cursor.get("product") == last_product and "order" not in first.cursor
    assert connected.ecommerce_store(store.store_id)["is_syncing"] is False  # the finally
    store.refresh_from_db()
    assert store.state == ConnectedStore.State.FAILING

    monkeypatch.setattr(ecommerce_backfill.Runner, "run_batch", original)
    connected.clear_faults()
    connected.clear_requests()
    second = run(store)

    assert second.state == "finished"
    sent = [op["operation_id"] for op in batch_operations(connected)]
    assert not any(op.startswith("product") for op in sent)
    assert len([op for op in sent if op.startswith("order")]) == 3
    assert second.done == 4  # 1 promo + 3 orders
    store.refresh_from_db()
    assert store.state == ConnectedStore.State.SYNCED


def test_refused_while_one_is_going_or_pushes_are_paused(store, settings):
    ecommerce_backfill.backfill_start(store=store, queue=False)
    with pytest.raises(ecommerce_backfill.BackfillRefused, match="already going"):
        ecommerce_backfill.backfill_start(store=store)
    StoreBackfill.objects.update(state="finished")
    settings.SUBSCRIPTIONS_PUSHES_PAUSED = True
    with pytest.raises(ecommerce_backfill.BackfillRefused, match="paused"):
        ecommerce_backfill.backfill_start(store=store)


@pytest.mark.worker
def test_the_task_runs_a_queued_sync_on_the_worker(connected, store, celery_worker_process):
    backfill = ecommerce_backfill.backfill_start(store=store)
    done = wait_for(lambda: StoreBackfill.objects.filter(pk=backfill.pk, state="finished")
                    .first(), timeout=60, message="the worker did not run the sync")
    assert (done.done, done.failed) == (6, 0)
    assert connected.ecommerce_store(store.store_id)["is_syncing"] is False


def test_the_command_prints_a_summary_and_exits_1_with_one_line(connected, store, capsys):
    call_command("sync_store_data")
    out = capsys.readouterr().out
    assert f"Sent 6 of 6 records to {store.store_id} in 2 batches; 0 failed." in out

    StoreBackfill.objects.create(store=store, state="running", heartbeat_at=timezone.now())
    with pytest.raises(SystemExit) as exit_:
        call_command("sync_store_data")
    assert exit_.value.code == 1
    assert "already going" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exit_:
        call_command("sync_store_data", audience="nope")
    assert exit_.value.code == 1
    assert "no store is connected" in capsys.readouterr().err


def test_the_command_exits_1_when_mailchimp_cannot_be_reached(connected, store, capsys):
    connected.fail_status(503, times=None)
    with pytest.raises(SystemExit) as exit_:
        call_command("sync_store_data")
    assert exit_.value.code == 1
    assert "Mailchimp cannot be reached" in capsys.readouterr().err
