"""Bench: "Sync store data" of 20,000 orders and 2,000 products, and what one live order costs.

Measures, against the local Mailchimp sandbox on a real port (its own process):
- batch submissions (POST /batches) of the backfill against ⌈records/500⌉ per dependency step
  (products and promo rules first, then promo codes, which need their rules, then orders,
  which need their products), and the polls (GET /batches/{id}) apart;
- SQL queries per batch of 500 records: the same for every full batch holding the same kinds
  (target: constant; the heartbeat written at each poll of Mailchimp's batch counted apart);
- the peak of simultaneous connections the sandbox saw (target: at most 10);
- a rerun: nothing new in Mailchimp and the same revenue;
- one live order placed through the checkout pages by a visitor whose cart Mailchimp holds:
  the calls it costs (target: at most 3: the member only when consent changed, the order, the
  cart's DELETE). A sale's stock change goes later, coalesced per variant: counted apart.

Runs on its own test database (created and dropped here):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/ecommerce.py

Options: --orders 20000 --products 2000 --promos 20. Exits 1 when a figure misses its target.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

PAGE = 500


def history_make(*, products: int, orders: int, promos: int) -> None:
    """The store's past, written in bulk (no store is connected yet, so nothing is queued)."""
    from django.utils import timezone

    from shop.catalogue.models import Product, Variant
    from shop.checkout.models import Order, OrderLine
    from shop.promotions.models import PromoCode

    made = Product.objects.bulk_create(
        [Product(name=f"Product {n}", slug=f"product-{n}") for n in range(products)],
        batch_size=1000)
    variants = Variant.objects.bulk_create(
        [Variant(product=p, sku=f"SKU-{p.pk}", name="Standard",
                 price=Decimal("10.00") + p.pk % 50, stock=1000) for p in made],
        batch_size=1000)
    PromoCode.objects.bulk_create(
        [PromoCode(code=f"SAVE{n}", kind=PromoCode.Kind.PERCENTAGE, value=10)
         for n in range(promos)])
    now = timezone.now()
    placed = Order.objects.bulk_create(
        [Order(number=f"B{n:08d}", email=f"buyer{n % 5000}@example.com", first_name="Ann",
               last_name="Lee", address_line1="1 High St", city="Leeds", postcode="LS1 1AA",
               country="GB", subtotal=Decimal("30.00"), total=Decimal("30.00"),
               status=Order.Status.PAID, paid_at=now) for n in range(orders)],
        batch_size=2000)
    OrderLine.objects.bulk_create(
        [OrderLine(order=order, variant=variant, product_name=variant.product.name,
                   variant_name=variant.name, sku=variant.sku, unit_price=Decimal("15.00"),
                   quantity=2)
         for n, order in enumerate(placed) for variant in [variants[n % len(variants)]]],
        batch_size=2000)


def backfill_measured(store):
    """One run in this process; SQL queries counted per batch, with what each batch held."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mailchimp_integration import ecommerce_backfill

    per_batch: list[tuple[dict[str, int], int]] = []
    original = ecommerce_backfill.Runner.batch

    def batch(self, chosen):
        polls = self.polls
        with CaptureQueriesContext(connection) as queries:
            original(self, chosen)
        # One heartbeat UPDATE per poll of Mailchimp's batch: time, not records; apart.
        per_batch.append(({step: len(ids) for step, ids in chosen.items()},
                          len(queries) - (self.polls - polls)))

    ecommerce_backfill.Runner.batch = batch
    try:
        backfill = ecommerce_backfill.backfill_start(store=store, queue=False)
        started = time.perf_counter()
        runner = ecommerce_backfill.backfill_run(backfill.pk)
        elapsed = time.perf_counter() - started
    finally:
        ecommerce_backfill.Runner.batch = original
    backfill.refresh_from_db()
    return backfill, runner, per_batch, elapsed


def deliver_due() -> None:
    """What the worker would do now: every due record sent, until none is due."""
    from django.utils import timezone

    from mailchimp_integration import ecommerce_delivery, outbox
    from mailchimp_integration.models import EcommerceRecord

    for _ in range(10):
        due = list(EcommerceRecord.objects.filter(outbox.due(timezone.now()))
                   .values_list("pk", flat=True))
        if not due:
            return
        for record_id in due:
            ecommerce_delivery.deliver(record_id=record_id)


def live_order_calls(sandbox, variant) -> tuple[list[str], list[str], str]:
    """A visitor adds to the cart, types their email (the cart goes), places the order."""
    from django.test import Client
    from django.urls import reverse

    from shop.checkout.models import Order

    client = Client()
    client.post(reverse("cart:add", args=[variant.product_id]),
                {"variant": variant.pk, "quantity": 1})
    client.post(reverse("cart:email"), {"email": "live@example.com"})
    deliver_due()  # the cart is in Mailchimp, as it would be minutes before the order
    sandbox.clear_requests()
    response = client.post(reverse("checkout:checkout"), {
        "first_name": "Liv", "last_name": "Buyer", "email": "live@example.com",
        "address_line1": "2 Low Road", "address_line2": "", "city": "York",
        "postcode": "YO1 1AA", "country": "GB"})
    assert response.status_code == 302, response.status_code
    order = Order.objects.get(email="live@example.com")
    deliver_due()
    calls = [f"{r['method']} {r['path'].split('/3.0', 1)[-1]}" for r in sandbox.request_log()]
    # The sale's stock goes later (ECOMMERCE_STOCK_DELAY_SECONDS), one call per variant for
    # all the sales meanwhile: sent now to count it apart.
    from django.utils import timezone

    from mailchimp_integration.models import EcommerceRecord
    EcommerceRecord.objects.filter(kind="variant").update(next_attempt_at=timezone.now())
    sandbox.clear_requests()
    deliver_due()
    later = [f"{r['method']} {r['path'].split('/3.0', 1)[-1]}" for r in sandbox.request_log()]
    return calls, later, order.number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--promos", type=int, default=20)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.utils import timezone

    from mailchimp_integration import ecommerce
    from mailchimp_integration.models import Audience, ConnectedStore
    from mailchimp_integration.sandbox.bench import bench_environment
    from mailchimp_integration.services import mailchimp_client_build
    from shop.catalogue.models import Variant

    report: list[str] = []
    missed = False

    def figure(text: str, ok: bool) -> None:
        nonlocal missed
        missed |= not ok
        report.append(f"  {text}  {'OK' if ok else 'MISSED'}")

    with bench_environment() as sandbox:
        settings.SITE_URL = "https://shop.example.com"
        settings.ECOMMERCE_BACKFILL_POLL_SECONDS = 0.05
        started = time.perf_counter()
        history_make(products=args.products, orders=args.orders, promos=args.promos)
        made_in = time.perf_counter() - started
        audience = Audience.objects.create(mailchimp_id=sandbox.create_list("Customers"),
                                           name="Customers", active=True,
                                           last_seen_at=timezone.now())
        store = ecommerce.store_connect(client=mailchimp_client_build(),
                                        audience=audience).store
        sandbox.clear_requests()
        sandbox.reset_stats()

        backfill, run, per_batch, elapsed = backfill_measured(store)
        peak = sandbox.peak_concurrency()
        log = sandbox.request_log()
        posts = [r for r in log if r["method"] == "POST" and r["path"].endswith("/batches")]
        polls = [r for r in log if r["method"] == "GET" and "/batches/" in r["path"]]
        records = args.products + 2 * args.promos + args.orders  # rules and codes apart
        target = math.ceil(records / PAGE) + 1  # + the one wait for products and rules
        operations = sum(len(r.get("operations", [])) for r in posts)
        remote = sandbox.ecommerce_store(store.store_id)
        revenue = sum(float(o["order_total"]) for o in remote["orders"].values())
        report.append(f"Backfill of {args.products:,} products, {args.promos} promo codes, "
                      f"{args.orders:,} orders ({records:,} Mailchimp records; history "
                      f"written in {made_in:.1f} s): {backfill.state} in {elapsed:.1f} s, "
                      f"{backfill.failed} failed")
        figure(f"batch submissions: {len(posts)} for {operations:,} operations; "
               f"⌈records/500⌉ = {math.ceil(records / PAGE)} (target at most one more: "
               f"codes and orders wait for the batch of their rules and products); "
               f"polls apart: {len(polls)}", len(posts) <= target and backfill.failed == 0)
        shapes: dict[tuple, set[int]] = {}
        for held, queries in per_batch:
            if sum(held.values()) == PAGE:
                shapes.setdefault(tuple(sorted(held)), set()).add(queries)
        figure("SQL queries per full batch of 500 records (less one heartbeat per poll), "
               "by what it held: "
               + "; ".join(f"{'+'.join(shape)}: {sorted(counts)}"
                           for shape, counts in shapes.items())
               + f" ({len(per_batch)} batches)",
               all(len(counts) == 1 for counts in shapes.values()))
        figure(f"peak simultaneous connections seen by the sandbox: {peak}", peak <= 10)
        figure(f"in Mailchimp: {len(remote['products']):,} products, {len(remote['orders']):,} "
               f"orders, revenue {revenue:,.2f}, is_syncing {remote['is_syncing']}",
               len(remote["orders"]) == args.orders and not remote["is_syncing"])

        again, _, _, again_elapsed = backfill_measured(store)
        remote2 = sandbox.ecommerce_store(store.store_id)
        revenue2 = sum(float(o["order_total"]) for o in remote2["orders"].values())
        figure(f"rerun: {again.state} in {again_elapsed:.1f} s; orders {len(remote2['orders']):,}"
               f", products {len(remote2['products']):,}, revenue {revenue2:,.2f} (unchanged: "
               f"{revenue2 == revenue})",
               len(remote2["orders"]) == args.orders and revenue2 == revenue)

        store.refresh_from_db()
        assert store.state == ConnectedStore.State.SYNCED, store.state
        variant = Variant.objects.order_by("pk").first()
        calls, later, number = live_order_calls(sandbox, variant)
        report.append(f"Live order {number} (the visitor's cart in Mailchimp, no newsletter "
                      "ticked):")
        figure(f"calls: {len(calls)}: {'; '.join(calls)} (target ≤ 3)", len(calls) <= 3)
        report.append(f"  later, coalesced per variant: {len(later)}: {'; '.join(later)}")
    print("\n".join(report))
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
