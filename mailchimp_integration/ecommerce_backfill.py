""""Sync store data": the store's history sent to the connected store through /batches.

Products, promo codes, then orders newest first, 500 records a page and one batch per page
(promo codes: their rules first, then the codes, which need them). The store is marked
is_syncing in Mailchimp while it runs (cleared in a `finally`, and by the watchdog when a
worker dies), so Mailchimp sends no automations for old orders. Each page's outcome is written
on the records' EcommerceRecord (the live path's outbox rows) in bulk, and the run's cursor
advances after each page: a failed run resumes where it stopped. Orders are PUT (an upsert),
so a rerun creates nothing new and changes no revenue.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from shop.db import bulk_update

from . import ecommerce_bodies as bodies
from .client import MailchimpClient
from .exceptions import MailchimpError
from .models import ConnectedStore, EcommerceRecord, StoreBackfill

logger = logging.getLogger(__name__)

Kind = EcommerceRecord.Kind
State = StoreBackfill.State
PAGE_SIZE = 500
PHASES = (Kind.PRODUCT, Kind.PROMO, Kind.ORDER)
ACTIVE = (State.QUEUED, State.RUNNING)
WORKER_STOPPED = "The worker stopped; press Sync store data to resume."


class BackfillRefused(Exception):
    """A sync that cannot start; `reason` is for the admin."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def poll_seconds() -> float:
    """How long to wait between two looks at a batch Mailchimp is running."""
    return float(getattr(settings, "ECOMMERCE_BACKFILL_POLL_SECONDS", 2))


def stale_seconds() -> float:
    """A run without a heartbeat for this long belongs to a dead worker."""
    return float(getattr(settings, "ECOMMERCE_BACKFILL_STALE_SECONDS", 600))


def _words(error: MailchimpError) -> str:
    return f"{error.title}: {error.detail}" if error.detail else error.title


def _q(value) -> str:
    return quote(str(value), safe="")


# ----------------------------------------------------------------------------- starting
def backfill_start(*, store: ConnectedStore, fresh: bool = False,
                   queue: bool = True) -> StoreBackfill:
    """Create the store's run (continuing a failed run's cursor unless `fresh`) and queue it
    once the transaction commits; `queue=False` leaves it to the caller (the command)."""
    from subscriptions.selectors import pushes_paused

    if pushes_paused():
        raise BackfillRefused("Pushes to Mailchimp are paused here (a staging copy?): "
                              "nothing is sent.")
    if StoreBackfill.objects.filter(store=store, state__in=ACTIVE).exists():
        raise BackfillRefused("A sync of the store data is already going; wait for it to end.")
    cursor: dict = {}
    last = StoreBackfill.objects.filter(store=store).first()
    if not fresh and last is not None and last.state == State.FAILED:
        cursor = last.cursor or {}
    try:
        with transaction.atomic():
            backfill = StoreBackfill.objects.create(store=store, cursor=cursor)
            if queue:
                from . import tasks

                transaction.on_commit(
                    lambda: tasks.ecommerce_backfill.delay(backfill.pk), robust=True)
    except IntegrityError:  # another press won the race
        raise BackfillRefused("A sync of the store data is already going; wait for it "
                              "to end.") from None
    return backfill


# ----------------------------------------------------------------------------- pages
def _pending(step: str, cursor: dict):
    """The ids the step has still to send, in sending order, after the cursor."""
    from shop.catalogue.models import Product
    from shop.checkout.models import Order
    from shop.promotions.models import PromoCode

    after = cursor.get(step)
    if step == "order":  # newest first: what matters for segments and revenue goes first
        orders = Order.objects.order_by("-pk")
        if after is not None:
            orders = orders.filter(pk__lt=after)
        return orders.values_list("pk", flat=True)
    model = Product if step == "product" else PromoCode
    return model.objects.filter(pk__gt=after or 0).order_by("pk").values_list("pk", flat=True)


def _page_ids(step: str, cursor: dict, limit: int = PAGE_SIZE) -> list[int]:
    return list(_pending(step, cursor)[:limit])


def _remaining(cursor: dict) -> int:
    """Records still to send: products, promo codes (their rules go with them), orders."""
    finished = set(cursor.get("finished", []))
    return sum(_pending(step, cursor).count() for step in ("product", "promo_code", "order")
               if step not in finished)


def _operation(method: str, path: str, op_id: str, body: dict | None) -> dict:
    operation = {"method": method, "path": path, "operation_id": op_id}
    if body is not None:
        operation["body"] = json.dumps(body)
    return operation


# The steps of a run, in order. A step's operations go only in batches after the one holding
# the last operation of the step it needs: Mailchimp runs a batch's operations in no set order,
# an order names its products, a promo code belongs to its rule. Otherwise a batch takes what
# comes next, across steps, so every batch but the last two or three is full.
STEPS = ("product", "promo_rule", "promo_code", "order")
STEP_KIND = {"product": Kind.PRODUCT, "promo_rule": Kind.PROMO, "promo_code": Kind.PROMO,
             "order": Kind.ORDER}
NEEDS = {"promo_code": "promo_rule", "order": "product"}


class Runner:
    """One run: the client, the row, and the counters the bench reads."""

    def __init__(self, backfill: StoreBackfill, client: MailchimpClient,
                 progress: Callable[[StoreBackfill], None] | None = None):
        self.backfill = backfill
        self.client = client
        self.progress = progress
        self.store_path = f"/ecommerce/stores/{_q(backfill.store.store_id)}"
        self.polls = 0
        self.submissions = 0
        self.first_reasons: list[str] = []  # the first refusals, for the command's summary
        self.rules_failed: set[int] = set()  # promo codes whose rule Mailchimp refused
        self.patch_next: list[dict] = []  # POSTs answered "already exists": PATCHed next batch

    # --- batches
    def run_batch(self, operations: list[dict]) -> dict[str, MailchimpError | None]:
        """Submit the operations as one batch, wait for Mailchimp to run it, and return each
        operation's error (None when it landed)."""
        batch = self.client.batch_start(operations)
        self.submissions += 1
        self.backfill.batches += 1
        while batch.get("status") != "finished":
            time.sleep(poll_seconds())
            self.polls += 1
            StoreBackfill.objects.filter(pk=self.backfill.pk).update(heartbeat_at=timezone.now())
            batch = self.client.batch_get(batch["id"])
        results = {}
        if batch.get("total_operations", len(operations)) and batch.get("response_body_url"):
            results = {r["operation_id"]: r["error"]
                       for r in self.client.batch_results(batch["response_body_url"])}
        missing = MailchimpError("No answer", "Mailchimp's batch had no result for this one.")
        return {op["operation_id"]: results.get(op["operation_id"], missing)
                for op in operations}

    # --- operations of each step
    def operations(self, step: str, ids: list[int], records: dict) -> list[dict]:
        if step == "product":
            return [_operation("PUT", f"{self.store_path}/products/{pk}", f"product:{pk}", body)
                    for pk, body in bodies.product_bodies(ids).items()]
        if step == "order":
            return [_operation("PUT", f"{self.store_path}/orders/{_q(body['id'])}",
                               f"order:{pk}", body)
                    for pk, body in bodies.order_bodies(ids, first_push=True).items()]
        rules = f"{self.store_path}/promo-rules"
        operations = []
        for pk, (rule, code) in bodies.promo_bodies(ids).items():
            rule_path = f"{rules}/{_q(bodies.promo_rule_id(pk))}"
            if step == "promo_rule":
                collection, item, body = rules, rule_path, rule
            elif pk in self.rules_failed:
                continue
            else:
                collection = f"{rule_path}/promo-codes"
                item, body = f"{collection}/{_q(bodies.promo_code_id(pk))}", code
            known = records.get(str(pk)) is not None and records[str(pk)].remote_exists
            patch = _operation("PATCH", item, f"{step}:{pk}",
                               {k: v for k, v in body.items() if k != "id"})
            operations.append(patch if known else dict(
                _operation("POST", collection, f"{step}:{pk}", body), patch=patch))
        return operations

    # --- a batch
    def next_batch(self, complete: set[str]) -> dict[str, list[int]]:
        """The ids each step puts in the next batch, at most PAGE_SIZE in all; `complete`
        gains the steps whose every operation went in an earlier batch."""
        cursor = self.backfill.cursor
        chosen: dict[str, list[int]] = {}
        room = PAGE_SIZE - len(self.patch_next)
        for step in STEPS:
            if step in complete or room <= 0:
                continue
            if NEEDS.get(step) and NEEDS[step] not in complete:
                continue
            ids = _page_ids(step, cursor, room)
            if not ids:  # none left, and none in this batch: the steps needing it may go
                complete.add(step)
                continue
            chosen[step] = ids
            room -= len(ids)
        return chosen

    def batch(self, chosen: dict[str, list[int]]) -> None:
        kinds = {STEP_KIND[step] for step in chosen}
        all_ids = {kind: [str(pk) for step, ids in chosen.items() if STEP_KIND[step] == kind
                          for pk in ids] for kind in kinds}
        records = {(r.kind, r.local_id): r for r in EcommerceRecord.objects.filter(
            store=self.backfill.store, kind__in=kinds,
            local_id__in=[pk for ids in all_ids.values() for pk in ids])}
        versions = {key: r.wanted_version for key, r in records.items()}
        operations = list(self.patch_next)
        self.patch_next = []
        for step, ids in chosen.items():
            by_id = {local_id: r for (kind, local_id), r in records.items()
                     if kind == STEP_KIND[step]}
            operations += self.operations(step, ids, by_id)
        patches = {op["operation_id"]: op.pop("patch") for op in operations if "patch" in op}
        outcome = self.run_batch(operations) if operations else {}
        now = timezone.now()
        new, changed = {}, {}
        for op_id, error in outcome.items():
            step, local_id = op_id.split(":", 1)
            if error is not None and op_id in patches and "already exists" in (
                    error.detail or ""):
                self.patch_next.append(patches[op_id])  # Mailchimp has it: a PATCH next time
                continue
            if step == "promo_rule":
                if error is None:
                    continue  # the record's outcome is its code's
                self.rules_failed.add(int(local_id))
            key = (STEP_KIND[step], local_id)
            record = records.get(key) or new.get(key)
            if record is None:
                record = new[key] = EcommerceRecord(store=self.backfill.store, kind=key[0],
                                                    local_id=local_id, wanted_version=1)
            elif key in records:
                changed[key] = record
            self.outcome_write(record, error, version=versions.get(key, record.wanted_version),
                               now=now)
        fields = ["state", "synced_at", "sent_version", "remote_exists", "failure_reason",
                  "failed_permanently"]
        with transaction.atomic():
            if new:
                EcommerceRecord.objects.bulk_create(list(new.values()), batch_size=PAGE_SIZE)
            if changed:
                bulk_update(EcommerceRecord, changed.values(), fields, batch_size=PAGE_SIZE)
            cursor = self.backfill.cursor
            for step, ids in chosen.items():
                cursor[step] = ids[-1]
                if step != "promo_rule":
                    self.backfill.done += len(ids)
            self.backfill.phase = STEP_KIND[list(chosen)[-1]] if chosen else self.backfill.phase
            self.backfill.heartbeat_at = now
            self.backfill.save(update_fields=["cursor", "done", "failed", "batches",
                                              "heartbeat_at", "phase"])
        if self.progress:
            self.progress(self.backfill)

    def outcome_write(self, record: EcommerceRecord, error: MailchimpError | None, *,
                      version: int, now) -> None:
        if error is None:
            record.state = EcommerceRecord.State.SYNCED
            record.synced_at = now
            record.sent_version = version
            record.remote_exists = True
            record.failure_reason = ""
            record.failed_permanently = False
            return
        record.state = EcommerceRecord.State.FAILED
        record.failure_reason = _words(error)
        # A refusal shows; a transient failure is left for the live path's sweep.
        record.failed_permanently = not error.retryable
        self.backfill.failed += 1
        if len(self.first_reasons) < 3:
            self.first_reasons.append(f"{record.kind} {record.local_id}: {record.failure_reason}")

    def run(self) -> None:
        cursor = self.backfill.cursor
        complete = set(cursor.get("finished", []))
        while True:
            chosen = self.next_batch(complete)
            cursor["finished"] = [step for step in STEPS if step in complete]
            if not chosen and not self.patch_next:
                if complete >= set(STEPS):
                    break
                continue  # a step became complete: the ones needing it can go now
            self.batch(chosen)
        self.backfill.save(update_fields=["cursor", "phase"])


# ----------------------------------------------------------------------------- running
def _syncing(client: MailchimpClient, store: ConnectedStore, value: bool) -> None:
    client.store_update(store.store_id, is_syncing=value)


def backfill_run(backfill_id: int, client: MailchimpClient | None = None, *,
                 progress: Callable[[StoreBackfill], None] | None = None) -> Runner | None:
    """Run the queued StoreBackfill `backfill_id` (claimed with a conditional update: a
    duplicate task finds nothing). The outcome is recorded on the run and the store."""
    from .services import mailchimp_client_build

    now = timezone.now()
    claimed = StoreBackfill.objects.filter(pk=backfill_id, state=State.QUEUED).update(
        state=State.RUNNING, started_at=now, heartbeat_at=now, error="")
    if not claimed:
        return None
    backfill = StoreBackfill.objects.select_related("store").get(pk=backfill_id)
    store = backfill.store
    backfill.total = _remaining(backfill.cursor)
    backfill.save(update_fields=["total"])
    runner = None
    problem = ""
    try:
        client = client or mailchimp_client_build()
        runner = Runner(backfill, client, progress)
        if progress:
            progress(backfill)
        _syncing(client, store, True)
        try:
            runner.run()
        finally:
            try:
                _syncing(client, store, False)
            except MailchimpError as error:
                problem = f"Mailchimp's is_syncing could not be cleared: {error}"
    except MailchimpError as error:
        problem = f"Mailchimp refused or could not be reached: {error}"
    except Exception as error:  # a defect of ours: shown on the run, not a silent stop
        logger.exception("store backfill %s failed", backfill_id)
        problem = f"The sync stopped ({type(error).__name__}: {error})."
    finish = timezone.now()
    backfill.state = State.FAILED if problem else State.FINISHED
    backfill.error = problem
    backfill.finished_at = finish
    backfill.heartbeat_at = finish
    backfill.save(update_fields=["state", "error", "finished_at", "heartbeat_at"])
    ConnectedStore.objects.filter(pk=store.pk).exclude(
        state=ConnectedStore.State.DISCONNECTED).update(
        state=ConnectedStore.State.FAILING if problem else ConnectedStore.State.SYNCED,
        error=problem)
    return runner


def backfill_watchdog() -> int:
    """Fail the runs whose worker stopped (no heartbeat for stale_seconds()) and clear
    is_syncing in Mailchimp for them; how many were failed."""
    from .services import mailchimp_client_build

    cutoff = timezone.now() - timedelta(seconds=stale_seconds())
    stale = list(StoreBackfill.objects.select_related("store").filter(
        state=State.RUNNING, heartbeat_at__lt=cutoff))
    failed = 0
    for backfill in stale:
        if not StoreBackfill.objects.filter(pk=backfill.pk, state=State.RUNNING,
                                            heartbeat_at__lt=cutoff).update(
                state=State.FAILED, error=WORKER_STOPPED, finished_at=timezone.now()):
            continue
        failed += 1
        error = WORKER_STOPPED
        try:
            _syncing(mailchimp_client_build(), backfill.store, False)
        except MailchimpError as problem:
            error = f"{WORKER_STOPPED} (is_syncing could not be cleared: {problem})"
            StoreBackfill.objects.filter(pk=backfill.pk).update(error=error)
        ConnectedStore.objects.filter(pk=backfill.store_id).exclude(
            state=ConnectedStore.State.DISCONNECTED).update(
            state=ConnectedStore.State.FAILING, error=error)
    return failed
