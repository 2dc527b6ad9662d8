"""Randomised sequences against the delivery engine: the consent invariants hold throughout.

A Hypothesis state machine mixes what the store does (footer, registration, checkout, account
page, admin tab, admin email change, the backlog action, double opt-in toggled), what people do
on Mailchimp's side (unsubscribe, confirm, bounce, change their address), faults injected in the
sandbox (latency, 429, 503, a hang past the client's timeout) and deliveries (one subscription,
the drain, the sweeper, queued tasks, and two workers racing for one record, one of them dying).

After each step (cheap checks) and at the end of each sequence (faults cleared, everything
sent until quiet) it checks, from the consent history, the sandbox's members and its request
log, that:
- nobody became `subscribed` without their own opt-in (a bulk opt-in only for someone new to
  Mailchimp), and nobody who opted out, nor anyone pending, became subscribed except by their
  own confirmation in Mailchimp;
- no `status` goes to Mailchimp except with the subscription's latest consent (an opt-in's
  status once per consent); cleaned addresses are never written again;
- a store subscription has one contact in Mailchimp, not a new one per address;
- a claim is held by at most one worker;
- in the end every subscription is either confirmed (nothing unsent, its state what Mailchimp
  holds) or failed with a reason.

Seeded (derandomised) and bounded for CI; `bench/invariants.py` runs the same machine longer
(INVARIANTS_EXAMPLES, INVARIANTS_STEPS, INVARIANTS_SEED for other sequences than CI's,
INVARIANTS_SHRINK=1 to shrink a failure, INVARIANTS_WITHOUT=rule,… to leave rules out).
"""
from __future__ import annotations

import hashlib
import os
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest
from celery.app.task import Task
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.test import TestCase
from django.utils import timezone
from hypothesis import HealthCheck, Phase
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    get_state_machine_test,
    invariant,
    rule,
)

from mailchimp_integration.exceptions import MailchimpError
from mailchimp_integration.sandbox.control import SandboxControl
from subscriptions import bulk, delivery, services
from subscriptions.forms import NewsChoice
from subscriptions.models import ConsentEvent, Push, Source, Subscription

from .factories import sandbox_list
from .helpers import api

# Both compliance modes where the sandbox has them (strict: the API never re-subscribes an
# unsubscribed member; permissive: it may); strict only on a sandbox without the switch.
COMPLIANCE_MODES = (["strict", "permissive"]
                    if hasattr(SandboxControl, "set_compliance_mode") else ["strict"])

EXAMPLES = int(os.environ.get("INVARIANTS_EXAMPLES", "12"))
STEPS = int(os.environ.get("INVARIANTS_STEPS", "25"))
SHRINK = os.environ.get("INVARIANTS_SHRINK", "") == "1"
SEED = int(os.environ["INVARIANTS_SEED"]) if os.environ.get("INVARIANTS_SEED") else None
# Rules left out (comma-separated names), to look past a known failure for the next one.
WITHOUT = {name for name in os.environ.get("INVARIANTS_WITHOUT", "").split(",") if name}

# What ran, for the closing summary (tests/subscriptions/conftest.py prints it).
RUNS: Counter = Counter()

CUSTOMERS = [("ann@example.com", "Ann", "Lee"), ("bob@example.com", "Bob", "Hart"),
             ("cy@example.com", "Cy", "Ng")]
VISITORS = ["dee@example.com", "eve@example.com"]
# New addresses an admin types for a customer (one is a visitor's, already subscribed maybe).
NEW_ADDRESSES = ["ann.new@example.com", "bob.new@example.com", "moved@example.com",
                 "dee@example.com"]
# Addresses people move to in Mailchimp's preference centre.
MAILCHIMP_ADDRESSES = ["mc1@example.com", "mc2@example.com"]
CHECKOUT_NAMES = [("", ""), ("Ann", "Lee"), ("Gift", "Friend")]

PERMISSION_TEXTS = ["Email", "Direct Mail"]
# Which of the Newsletter's marketing permissions a form had ticked.
TICKS = st.sets(st.integers(0, len(PERMISSION_TEXTS) - 1))

READ_TIMEOUT = 0.4
HANG_SECONDS = 0.7
UNKNOWN_OUTCOME_SECONDS = 0.8
WRITE_METHODS = ("PUT", "PATCH")
OPTED_IN_STATUSES = ("subscribed", "pending")


def member_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def configure(settings) -> None:
    """Short timeouts and windows, so faults and unknown outcomes play out within a step."""
    settings.MAILCHIMP_READ_TIMEOUT = READ_TIMEOUT
    settings.MAILCHIMP_CONNECT_TIMEOUT = 0.5
    settings.SUBSCRIPTIONS_RETRY_BASE_SECONDS = 0.05
    settings.SUBSCRIPTIONS_RETRY_MAX_SECONDS = 0.2
    settings.SUBSCRIPTIONS_UNKNOWN_OUTCOME_SECONDS = UNKNOWN_OUTCOME_SECONDS
    settings.SUBSCRIPTIONS_SWEEP_GRACE_SECONDS = 0
    # Small, so a handful of waiting subscriptions already takes the bulk path.
    settings.SUBSCRIPTIONS_BULK_THRESHOLD = 3


class Broker:
    """Tasks the engine sends (push_send, push_drain, …), kept in order for a 'worker' rule
    to run in-process; the engine's Celery calls themselves are real."""

    def __init__(self):
        self.queue: list[tuple[str, tuple]] = []

    def apply_async(self, task, args=None, kwargs=None, **options):
        self.queue.append((task.name, tuple(args or ())))

    def run_next(self) -> None:
        name, args = self.queue.pop(0)
        if name == "subscriptions.push_send":
            delivery.deliver(subscription_id=args[0])
        elif name == "subscriptions.push_drain":
            bulk.drain()
        elif name == "subscriptions.push_sweep":
            delivery.sweep()
        elif name == "subscriptions.push_tags_check":
            try:
                bulk.tags_batch_check(batch_id=args[0])
            except MailchimpError:
                pass  # the task retries later; tags are not what these invariants are about


def committed(function):
    """Run a step as its own commit would: on_commit callbacks (enqueues) run at its end."""
    def run(*args, **kwargs):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return function(*args, **kwargs)
    run.__name__ = function.__name__
    run.__doc__ = function.__doc__
    return run


class Violation(AssertionError):
    pass


class ConsentMachine(RuleBasedStateMachine):
    """One sequence: a fresh sandbox account and a fresh store (rolled back afterwards)."""

    account: SandboxControl
    mode: str
    broker: Broker

    def __init__(self):
        super().__init__()
        RUNS["sequences"] += 1
        self.savepoint = transaction.savepoint()
        account = self.account
        account.clear_faults()
        account.reset()
        if self.mode != "strict":
            account.set_compliance_mode(self.mode)
        account.set_connection_limit(False)
        self.broker.queue.clear()
        self.audiences = [
            sandbox_list(account, name="Newsletter"),
            sandbox_list(account, name="Offers", groups=("Weekly", "Monthly"),
                         default_groups=(), subscribe_by_default=False),
        ]
        # The Newsletter has GDPR fields: what people tick must end in Mailchimp, and only that.
        newsletter = self.audiences[0]
        ids = account.set_marketing_permissions(newsletter.mailchimp_id, PERMISSION_TEXTS)
        newsletter.gdpr_enabled = True
        newsletter.marketing_permissions = [
            {"id": pid, "text": text} for pid, text in zip(ids, PERMISSION_TEXTS, strict=True)]
        newsletter.save()
        User = get_user_model()
        self.customers = [
            User.objects.create_user(email=email, password="x",
                                     first_name=first, last_name=last)
            for email, first, last in CUSTOMERS
        ]
        # The model's record of what happened outside the store's database.
        self.people: dict[tuple[str, str], list[tuple[datetime, str]]] = defaultdict(list)
        self.moved_to: dict[tuple[str, str], tuple[str, str]] = {}
        self.owners: dict[tuple[str, str], set[int]] = defaultdict(set)
        self.bulk_known: dict[int, str | None] = {}  # bulk consent -> status in Mailchimp then
        self.dead_claims: set[str] = set()
        self.blind_writes: Counter = Counter()
        self.uncleaned: dict[tuple[str, str], datetime] = {}
        self.statuses: dict[tuple[str, str], str | None] = {}
        self.checked_at = timezone.now()
        self.log_seen = 0
        self.verified_requests = 0

    # --- helpers --------------------------------------------------------------------------

    def _emails(self) -> list[str]:
        return sorted({u.email for u in self.customers} | set(VISITORS))

    def _subscription_ids(self) -> list[int]:
        return list(Subscription.objects.order_by("pk").values_list("pk", flat=True))

    def _members(self) -> dict[tuple[str, str], dict]:
        found = {}
        for audience in self.audiences:
            response = api(self.account, "GET", f"/lists/{audience.mailchimp_id}/members",
                           params={"count": 1000})
            response.raise_for_status()
            for member in response.json()["members"]:
                found[(audience.mailchimp_id, member["id"])] = member
        return found

    def _members_with(self, statuses) -> list[tuple[str, dict]]:
        return sorted(((key[0], m) for key, m in self._members().items()
                       if m["status"] in statuses), key=lambda pair: (pair[0], pair[1]["id"]))

    def _person(self, list_id: str, email: str, action: str) -> None:
        self.people[(list_id, member_hash(email))].append((timezone.now(), action))

    def _permissions(self, ticked) -> dict[int, list[dict]]:
        """The Newsletter's permissions as a form showed them, `ticked` (indexes) ticked."""
        newsletter = self.audiences[0]
        return {newsletter.pk: [{**p, "enabled": n in ticked}
                                for n, p in enumerate(newsletter.marketing_permissions)]}

    def _choices(self, data) -> dict[int, list[int]]:
        choices = {}
        for audience in self.audiences:
            if data.draw(st.booleans(), label=f"on {audience.name}"):
                groups = list(audience.interests.order_by("pk").values_list("pk", flat=True))
                choices[audience.pk] = data.draw(
                    st.lists(st.sampled_from(groups), unique=True), label="groups")
        return choices

    # --- what the store does ---------------------------------------------------------------

    @rule(email=st.integers(0, 10), signed_in=st.booleans(), ticks=TICKS)
    @committed
    def footer_signup(self, email, signed_in, ticks):
        emails = self._emails()
        address = emails[email % len(emails)]
        user = next((u for u in self.customers if u.email == address), None)
        services.subscription_subscribe(
            email=address, use_defaults=True, source=Source.FOOTER, ip="203.0.113.7",
            consent_text="Sign up for our news", user=user if signed_in else None,
            permissions=self._permissions(ticks),
        )

    @rule(customer=st.integers(0, 2), ticked=st.booleans(), ticks=TICKS)
    @committed
    def registration(self, customer, ticked, ticks):
        user = self.customers[customer]
        services.subscription_signup(
            email=user.email, source=Source.REGISTRATION, ip="203.0.113.8", user=user,
            choice=NewsChoice(use_defaults=ticked, permissions=self._permissions(ticks)),
        )

    @rule(email=st.integers(0, 10), customer_pays=st.booleans(), ticked=st.booleans(),
          names=st.sampled_from(CHECKOUT_NAMES), ticks=TICKS)
    @committed
    def checkout(self, email, customer_pays, ticked, names, ticks):
        if customer_pays:
            user = self.customers[email % len(self.customers)]
            address = user.email
        else:
            user, address = None, self._emails()[email % len(self._emails())]
        services.subscription_signup(
            email=address, source=Source.CHECKOUT, ip="203.0.113.9", user=user,
            choice=NewsChoice(use_defaults=ticked, permissions=self._permissions(ticks)),
            first_name=names[0], last_name=names[1],
        )

    @rule(customer=st.integers(0, 2), data=st.data(), ticks=TICKS)
    @committed
    def account_page(self, customer, data, ticks):
        services.subscription_set_for_customer(
            user=self.customers[customer], choices=self._choices(data), source=Source.ACCOUNT,
            ip="203.0.113.10", consent_text="Subscribe to our news list",
            permissions=self._permissions(ticks),
        )

    @rule(customer=st.integers(0, 2), data=st.data())
    @committed
    def admin_tab(self, customer, data):
        services.subscription_set_for_customer(
            user=self.customers[customer], choices=self._choices(data), source=Source.ADMIN,
            consent_text="Set by a store admin",
        )

    @rule(customer=st.integers(0, 2), new=st.sampled_from(NEW_ADDRESSES))
    @committed
    def admin_email_change(self, customer, new):
        user = self.customers[customer]
        if get_user_model().objects.filter(email=new).exclude(pk=user.pk).exists():
            return  # the admin form refuses an address another customer has
        old = user.email
        user.email = new
        user.save(update_fields=["email"])
        services.subscription_email_change(user=user, old_email=old, new_email=new)

    @rule(who=st.sets(st.integers(0, 2), min_size=1), lists=st.sets(st.integers(0, 1),
          min_size=1), as_contacts=st.booleans())
    @committed
    def backlog_action(self, who, lists, as_contacts):
        users = [self.customers[i] for i in sorted(who)]
        audiences = [self.audiences[i] for i in sorted(lists)]
        members = self._members()
        before = set(ConsentEvent.objects.values_list("pk", flat=True))
        services.subscriptions_subscribe_users(
            user_ids=[u.pk for u in users], audience_ids=[a.pk for a in audiences],
            as_contacts=as_contacts,
        )
        # Whether each was new to Mailchimp when staff added them (rule 5).
        for event in ConsentEvent.objects.exclude(pk__in=before).select_related("subscription"):
            subscription = event.subscription
            key = (subscription.audience.mailchimp_id, member_hash(subscription.email))
            known = members.get(key)
            self.bulk_known[event.pk] = known["status"] if known else None

    @rule(on=st.booleans())
    @committed
    def double_opt_in(self, on):
        services.news_settings_update(double_opt_in=on, pushes_paused=False,
                                      customers_choose_lists=False)

    # --- what people do in Mailchimp --------------------------------------------------------

    @rule(pick=st.integers(0, 20))
    def person_unsubscribes(self, pick):
        members = self._members_with(("subscribed",))
        if members:
            list_id, member = members[pick % len(members)]
            self._person(list_id, member["email_address"], "unsubscribe")
            self.account.unsubscribe(list_id, member["email_address"])

    @rule(pick=st.integers(0, 20))
    def person_confirms(self, pick):
        members = self._members_with(("pending",))
        if members:
            list_id, member = members[pick % len(members)]
            self._person(list_id, member["email_address"], "confirm")
            confirm = getattr(self.account, "confirm", self.account.subscribe)
            confirm(list_id, member["email_address"])

    @rule(pick=st.integers(0, 20))
    def address_cleaned(self, pick):
        members = self._members_with(("subscribed", "transactional", "pending"))
        if members:
            list_id, member = members[pick % len(members)]
            self._person(list_id, member["email_address"], "clean")
            self.account.clean(list_id, member["email_address"])

    @rule(pick=st.integers(0, 20), new=st.sampled_from(MAILCHIMP_ADDRESSES))
    def person_changes_email(self, pick, new):
        members = self._members_with(("subscribed", "pending", "transactional"))
        taken = {key for key in self._members()}
        if not members:
            return
        list_id, member = members[pick % len(members)]
        if (list_id, member_hash(new)) in taken:
            return
        old_key = (list_id, member["id"])
        new_key = (list_id, member_hash(new))
        # The new address hosts this member now, not whoever left it before (an address can
        # be moved away from, then moved into by another person).
        self.moved_to.pop(new_key, None)
        for earlier, to in list(self.moved_to.items()):
            if to == old_key:  # where this member was before: it is at the new address now
                self.moved_to[earlier] = new_key
        self.moved_to[old_key] = new_key
        self.owners[new_key] = set(self.owners[old_key])
        self._person(list_id, member["email_address"], "moved away")
        self._person(list_id, new, "moved in")
        self.account.change_email(list_id, member["email_address"], new)

    @rule(full=st.booleans())
    @committed
    def reconciliation(self, full):
        """What Mailchimp holds comes back to the store (the webhooks' and the hourly job's
        one applier): the invariants must hold across it, and it must send nothing."""
        from mailchimp_integration.services import mailchimp_client_build
        from subscriptions import inbound
        from subscriptions.models import MemberSyncRun

        try:
            client = mailchimp_client_build()
        except Exception:  # noqa: BLE001 (not connected in this sequence)
            return
        for audience in inbound.audiences_to_reconcile():
            run = inbound.run_create(audience=audience, kind=MemberSyncRun.Kind.RECONCILE,
                                     full=full)
            inbound.run_execute(run=run, client=client)

    # --- faults ----------------------------------------------------------------------------

    @rule(ms=st.sampled_from([0, 30, 120]))
    def latency(self, ms):
        self.account.set_latency(ms / 1000)

    @rule(times=st.integers(1, 2), status=st.sampled_from([429, 503]))
    def failing(self, times, status):
        self.account.fail_status(status, times=times, route="/lists/*/members/*")

    @rule(route=st.sampled_from(["/lists/*/members/*", "/lists/*", "*"]))
    def hang(self, route):
        self.account.hang(HANG_SECONDS, times=1, route=route)

    @rule()
    def faults_cleared(self):
        self.account.clear_faults()

    # --- deliveries ------------------------------------------------------------------------

    @rule(pick=st.integers(0, 30))
    @committed
    def deliver_one(self, pick):
        ids = self._subscription_ids()
        if ids:
            delivery.deliver(subscription_id=ids[pick % len(ids)])

    @rule()
    @committed
    def drain(self):
        bulk.drain()

    @rule()
    @committed
    def sweep(self):
        delivery.sweep()

    # No precondition on the queue: what it holds depends on timing, and Hypothesis needs the
    # same draws for the same sequence.
    @rule()
    @committed
    def worker_runs_a_task(self):
        if self.broker.queue:
            self.broker.run_next()

    @rule(seconds=st.sampled_from([0.1, 0.3]))
    def time_passes(self, seconds):
        time.sleep(seconds)

    @rule(pick=st.integers(0, 30), change=st.sampled_from(["none", "opt out", "groups"]),
          second=st.sampled_from(["deliver", "drain", "claim"]), dies=st.booleans())
    @committed
    def two_workers_one_record(self, pick, change, second, dies):
        """Worker A claims a subscription; the store may change it meanwhile; worker B tries
        the same record (a second task, the drain); then A finishes, or dies holding it."""
        ids = self._subscription_ids()
        if not ids:
            return
        subscription_id = ids[pick % len(ids)]
        first = delivery.claim(subscription_id=subscription_id)
        if first is None:
            return
        if change == "opt out":
            services.subscription_unsubscribe(subscription_id=subscription_id,
                                              source=Source.ACCOUNT)
        elif change == "groups":
            user = first.subscription.user
            if user is not None:
                services.subscription_set_for_customer(
                    user=user, choices={first.subscription.audience_id: []},
                    source=Source.ACCOUNT, consent_text="Subscribe to our news list")
        pushes_before = Push.objects.filter(subscription_id=subscription_id).count()
        if second == "claim":
            if delivery.claim(subscription_id=subscription_id) is not None:
                raise Violation(f"two workers hold subscription {subscription_id}")
        elif second == "deliver":
            delivery.deliver(subscription_id=subscription_id)
        else:
            bulk.drain()
        if Push.objects.filter(subscription_id=subscription_id).count() != pushes_before:
            raise Violation(f"a second worker sent subscription {subscription_id} while the "
                            "first held its claim")
        holder = Subscription.objects.get(pk=subscription_id).claim_token
        if holder != first.token:
            raise Violation(f"subscription {subscription_id}'s claim changed hands while held")
        if dies:
            # The worker is killed holding the claim; its lease runs out (time moves on).
            self.dead_claims.add(first.token)
            Subscription.objects.filter(pk=subscription_id).update(
                claimed_at=timezone.now() - delivery.policy().stale_after - timedelta(seconds=1))
        else:
            delivery.deliver_claimed(first, client=delivery.mailchimp_client_build())

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def after_each_step(self):
        RUNS["steps"] += 1
        self._track_owners()
        now = timezone.now()
        members = self._members()
        log = self.account.request_log()
        new_entries = log[self.log_seen:]
        self.log_seen = len(log)
        self._check_claims()
        self._check_status_writes(new_entries, log)
        self._check_cleaned(new_entries)
        self._check_transitions(members, log, since=self.checked_at)
        self.statuses = {key: m["status"] for key, m in members.items()}
        for key, status in self.statuses.items():
            cleaned = any(a == "clean" for _, a in self.people.get(key, []))
            if cleaned and status != "cleaned" and key not in self.uncleaned:
                # The sandbox let a write (an unsubscribe) replace `cleaned`: the store was
                # told "unsubscribed" and cannot know of the bounce. Reported, not judged here.
                self.uncleaned[key] = now
        self.checked_at = now

    def _track_owners(self) -> None:
        for pk, list_id, email, mailchimp_email in Subscription.objects.values_list(
                "pk", "audience__mailchimp_id", "email", "mailchimp_email"):
            for address in filter(None, (email, mailchimp_email)):
                self.owners[(list_id, member_hash(address))].add(pk)

    def _check_claims(self) -> None:
        held = Subscription.objects.exclude(claim_token="")
        for subscription in held:
            if subscription.claim_token not in self.dead_claims:
                raise Violation(f"{subscription.email} is claimed after every worker finished")
        sending = Counter(Push.objects.filter(state=Push.State.SENDING)
                          .values_list("subscription_id", flat=True))
        for subscription_id, count in sending.items():
            if count > 1:
                raise Violation(f"subscription {subscription_id} has {count} attempts in flight")

    def _history(self, key) -> str:
        """What the store and people did to this address, for a violation's message."""
        lines = [f"people: {self.people.get(key, [])}"]
        for pk in sorted(self.owners.get(key, ())):
            lines.append(f"subscription {pk}: " + "; ".join(
                f"{e.action} by {e.actor} ({e.source}) at {e.at:%H:%M:%S.%f} double opt-in "
                f"{e.double_opt_in} needs confirmation {e.needs_confirmation}"
                for e in ConsentEvent.objects.filter(subscription_id=pk).order_by("at", "pk")))
            for push in Push.objects.filter(subscription_id=pk).order_by("pk"):
                lines.append(f"  push v{push.version} {push.action} {push.channel} "
                             f"{push.payload} -> {push.state} {push.mailchimp_status} "
                             f"{push.last_error[:120]} at {push.created_at:%H:%M:%S.%f}")
        return "\n".join(lines)

    def _events_of(self, key, *, at: datetime) -> list[ConsentEvent]:
        """The opt-ins and opt-outs on record (marketing permissions changed by someone
        already subscribed are evidence too, but no consent to a status)."""
        return list(ConsentEvent.objects.filter(subscription_id__in=self.owners.get(key, ()),
                                                at__lte=at)
                    .exclude(action=ConsentEvent.Action.PERMISSIONS).order_by("at", "pk"))

    def _latest(self, key, *, at: datetime) -> ConsentEvent | None:
        """The consent the engine went by for a call sent at `at`: the latest as of the claim
        of the attempt that sent it (the payload is built at claim time; a change made after
        the claim is sent next)."""
        claimed = Push.objects.filter(
            subscription_id__in=self.owners.get(key, ()), created_at__lte=at,
        ).order_by("-created_at", "-pk").values_list("claimed_at", flat=True).first()
        events = self._events_of(key, at=min(at, claimed) if claimed else at)
        return events[-1] if events else None

    def _check_status_writes(self, entries: list[dict], log: list[dict]) -> None:
        """`status` only with the latest consent; an opt-in's status once per consent."""
        for entry in entries:
            parts = entry["path"].split("/")
            body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
            if entry["method"] == "POST" and len(parts) == 4 and parts[2] == "lists":
                self._check_batch_subscribe(parts[3], entry, body)
                continue
            is_member = len(parts) == 6 and parts[2] == "lists" and parts[4] == "members"
            if entry["method"] not in WRITE_METHODS or not is_member or "status" not in body:
                continue
            key, status = (parts[3], parts[5]), body["status"]
            at = parse_time(entry["time"])
            latest = self._latest(key, at=at)
            where = f"{entry['method']} {entry['path']} {body} at {entry['time']}"
            if latest is None:
                raise Violation(f"status sent for an address with no consent on record: {where}")
            if status == "unsubscribed":
                if latest.action != ConsentEvent.Action.OPT_OUT:
                    raise Violation(f"unsubscribed sent but the latest consent is "
                                    f"{latest.action}: {where}")
                continue
            if status not in OPTED_IN_STATUSES:
                raise Violation(f"status {status!r} is never the store's to send: {where}")
            if latest.action != ConsentEvent.Action.OPT_IN or latest.source == Source.ADMIN_BULK:
                raise Violation(f"{status} sent without the person's own opt-in "
                                f"(latest: {latest.action}, {latest.source}): {where}")
            if status == "subscribed" and (latest.double_opt_in or latest.needs_confirmation):
                raise Violation(f"subscribed sent over a consent that needs Mailchimp's "
                                f"confirmation: {where}")
            for earlier in log:
                if earlier is entry:
                    break
                earlier_body = earlier.get("body") if isinstance(earlier.get("body"), dict) \
                    else {}
                earlier_parts = earlier["path"].split("/")
                if (earlier["method"] in WRITE_METHODS and len(earlier_parts) == 6
                        and (earlier_parts[3], earlier_parts[5]) == key
                        and earlier_body.get("status") == status
                        and str(earlier.get("status")).startswith("2")
                        and parse_time(earlier["time"]) >= latest.at):
                    raise Violation(f"{status} sent again for the same consent: {where}")

    def _check_batch_subscribe(self, list_id: str, entry: dict, body: dict) -> None:
        if body.get("update_existing"):
            raise Violation(f"batch subscribe with update_existing at {entry['time']}")
        at = parse_time(entry["time"])
        for member in body.get("members") or []:
            key = (list_id, member_hash(member.get("email_address", "")))
            latest = self._latest(key, at=at)
            status = member.get("status")
            where = f"batch subscribe of {member.get('email_address')} as {status}"
            if latest is None:
                raise Violation(f"{where} with no consent on record")
            wanted = {"contact": "transactional", "opt_in": "subscribed"}.get(latest.action)
            if latest.action == "opt_in" and (latest.double_opt_in or latest.needs_confirmation):
                wanted = "pending"
            if status != wanted:
                raise Violation(f"{where}; the latest consent ({latest.action}) says {wanted}")

    def _check_cleaned(self, entries: list[dict]) -> None:
        """A cleaned address is not written again. The store hears of a bounce only from
        Mailchimp's answer (these tests deliver no webhooks), so one write that carries no
        opt-in status may still go out blind; its answer says `cleaned`, and nothing after."""
        for entry in entries:
            parts = entry["path"].split("/")
            if entry["method"] not in WRITE_METHODS or len(parts) != 6 or parts[4] != "members":
                continue
            key = (parts[3], parts[5])
            cleaned = [at for at, action in self.people.get(key, []) if action == "clean"]
            if not cleaned or parse_time(entry["time"]) <= min(cleaned):
                continue
            if key in self.uncleaned and parse_time(entry["time"]) > self.uncleaned[key]:
                continue  # the sandbox took the blind write: no longer cleaned, nothing to learn
            body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
            where = (f"{entry['method']} {entry['path']} {body} at {entry['time']}, after "
                     f"Mailchimp cleaned it ({min(cleaned).isoformat()})")
            if body.get("status") in OPTED_IN_STATUSES:
                raise Violation(f"a cleaned address re-sent: {where}")
            if not str(entry.get("status")).startswith("2"):
                continue  # refused (a fault, a 4xx): nothing written, nothing learnt
            self.blind_writes[key] += 1
            if self.blind_writes[key] > 1:
                raise Violation(f"a cleaned address written again once the store knew: {where}\n"
                                f"{self._history(key)}")

    def _writes_landed(self, key, log, *, since: datetime) -> list[dict]:
        """2xx calls that could have changed this member, completed since `since`."""
        found = []
        for entry in log:
            if not str(entry.get("status")).startswith("2"):
                continue
            done = parse_time(entry["time"]) + timedelta(milliseconds=entry["duration_ms"])
            if done < since - timedelta(milliseconds=50):
                continue
            parts = entry["path"].split("/")
            body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
            if entry["method"] in WRITE_METHODS and len(parts) == 6 and parts[4] == "members" \
                    and parts[3] == key[0] and key[1] in (
                        parts[5], member_hash(str(body.get("email_address", "")))):
                found.append(entry)  # a write to the member, or the store moving it here
            elif entry["method"] == "POST" and len(parts) == 4 and parts[3] == key[0] and any(
                    member_hash(m.get("email_address", "")) == key[1]
                    for m in body.get("members") or []):
                found.append(entry)
        return found

    def _check_transitions(self, members, log, *, since: datetime) -> None:
        """Every member that became subscribed did so by their own confirmation, or by a write
        the consent history allows."""
        moved_in = {new: old for old, new in self.moved_to.items()}
        for key, member in members.items():
            if member["status"] != "subscribed":
                continue
            before = self.statuses.get(key, self.statuses.get(moved_in.get(key)))
            if before == "subscribed":
                continue
            actions = [a for at, a in self.people.get(key, []) if at >= since]
            if "confirm" in actions or ("moved in" in actions and self.statuses.get(
                    moved_in.get(key)) == "subscribed"):
                continue
            where = f"{member['email_address']} on {key[0]} became subscribed (was {before})"
            writes = self._writes_landed(key, log, since=since)
            if not writes:
                raise Violation(f"{where} with no write and no confirmation")
            paths = [w["path"].split("/") for w in writes]
            moves = [(key[0], p[5]) for p in paths if len(p) == 6 and p[5] != key[1]]
            if any(self.statuses.get(old) == "subscribed" for old in moves):
                continue  # the store moved a subscribed member to the customer's new address
            if before not in (None, "transactional", "archived"):
                raise Violation(f"{where}: only the person's confirmation may do that; "
                                f"writes: {self._brief(writes)}\n{self._history(key)}")
            subscribing = [w for w in writes if self._subscribes(w, key)]
            if not subscribing:
                raise Violation(f"{where}; no write asked for it: {self._brief(writes)}")
            sent_at = parse_time(subscribing[-1]["time"])  # the last one that could do it
            latest = self._latest(key, at=sent_at)
            if latest is None or latest.action != ConsentEvent.Action.OPT_IN:
                raise Violation(f"{where} without an opt-in of their own (latest consent: "
                                f"{latest and latest.action}); writes: {self._brief(writes)}\n"
                                f"{self._history(key)}")
            if latest.double_opt_in or latest.needs_confirmation:
                raise Violation(f"{where} without confirming ({latest.source}, double opt-in "
                                f"{latest.double_opt_in}, re-opt-in {latest.needs_confirmation})")
            if latest.source == Source.ADMIN_BULK and before is not None:
                # (`before` is None: new to Mailchimp now, whatever the address was then.)
                raise Violation(f"{where} by staff in bulk, but they were in Mailchimp "
                                f"already ({before}; when staff added them: "
                                f"{self.bulk_known.get(latest.pk, '?')})")
            if self._opted_out_in_mailchimp(key, until=sent_at):
                raise Violation(f"{where}: they had opted out in Mailchimp, and came back "
                                "without confirming")

    @staticmethod
    def _subscribes(entry: dict, key) -> bool:
        body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
        if entry["method"] == "POST":
            return any(member_hash(m.get("email_address", "")) == key[1]
                       and m.get("status") == "subscribed" for m in body.get("members") or [])
        return "subscribed" in (body.get("status"), body.get("status_if_new"))

    @staticmethod
    def _brief(entries: list[dict]) -> list:
        return [(e["method"], e["path"], e.get("body"), e["status"], e["time"]) for e in entries]

    def _opted_out_in_mailchimp(self, key, *, until: datetime) -> bool:
        """An unsubscribe (theirs, or the store's that landed) or a bounce is on record, with
        no confirmation of theirs since."""
        marks = [(at, a) for at, a in self.people.get(key, []) if at <= until]
        for entry in self.account.request_log():
            parts = entry["path"].split("/")
            body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
            if (entry["method"] == "PATCH" and len(parts) == 6 and (parts[3], parts[5]) == key
                    and body.get("status") == "unsubscribed"
                    and str(entry.get("status")).startswith("2")
                    and parse_time(entry["time"]) <= until):
                marks.append((parse_time(entry["time"]), "unsubscribe"))
        marks.sort()
        state = False
        for _, action in marks:
            if action in ("unsubscribe", "clean"):
                state = True
            elif action == "confirm":
                state = False
        return state

    # --- the end of a sequence -------------------------------------------------------------

    def teardown(self):
        try:
            self.account.clear_faults()
            time.sleep(HANG_SECONDS)  # calls still hanging land now
            with TestCase.captureOnCommitCallbacks(execute=True):
                self._settle()
            self.after_each_step()
            self._check_final()
        finally:
            transaction.savepoint_rollback(self.savepoint)

    def _settle(self) -> None:
        """Send everything until nothing is due, no check is pending and no task queued."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with TestCase.captureOnCommitCallbacks(execute=True):
                delivery.sweep()
                while self.broker.queue:
                    self.broker.run_next()
                bulk.drain()
            busy = Subscription.objects.filter(wanted_version__gt=F("sent_version"),
                                               failed_permanently=False).exclude(
                state=Subscription.State.FAILED).exists()
            checking = Subscription.objects.filter(verify_at__isnull=False).exists()
            if not busy and not checking and not self.broker.queue:
                return
            time.sleep(0.1)
        stuck = list(Subscription.objects.filter(wanted_version__gt=F("sent_version")).values(
            "email", "state", "failure_reason", "wanted_version", "sent_version", "claim_token",
            "next_attempt_at", "verify_at"))
        raise Violation(f"not quiet after 20 s: {stuck}")

    def _check_final(self) -> None:
        members = self._members()
        for key, member in members.items():
            # Every member is one of the store's (or where a person moved one of them), and
            # a pending one was asked for by an opt-in, never by staff adding contacts.
            owners = self.owners.get(key)
            if not owners:
                raise Violation(f"{member['email_address']} ({member['status']}) is in "
                                "Mailchimp, but the store never had that address")
            if member["status"] == "pending" and not ConsentEvent.objects.filter(
                    subscription_id__in=owners, action=ConsentEvent.Action.OPT_IN).exists():
                raise Violation(f"{member['email_address']} is pending with no opt-in on "
                                f"record\n{self._history(key)}")
        for subscription in Subscription.objects.select_related("audience", "consent"):
            key = (subscription.audience.mailchimp_id, member_hash(subscription.email))
            name = f"{subscription.email} on {subscription.audience.name}"
            failed = subscription.failed_permanently or \
                subscription.state == Subscription.State.FAILED
            if failed:
                if not subscription.failure_reason:
                    raise Violation(f"{name} failed without a reason")
                continue
            if subscription.wanted_version != subscription.sent_version:
                raise Violation(f"{name} neither confirmed nor failed")
            member = members.get(key)
            status = member["status"] if member else None
            person_acted = any(
                subscription.last_pushed_at is None or at > subscription.last_pushed_at
                for address in self._addresses_of(subscription) | {key}
                for at, _ in self.people.get(address, []))
            expected = delivery.STATE_FOR_STATUS.get(status) if status else (
                Subscription.State.UNSUBSCRIBED if not subscription.opted_in else None)
            if not person_acted and subscription.state != expected:
                raise Violation(f"{name} says {subscription.state}; Mailchimp holds {status}\n"
                                f"{self._history(key)}")
            self._check_one_contact(subscription, members)
            self._check_opt_out_kept(subscription, members)
            if member is not None and not person_acted:
                self._check_permissions(subscription, member)

    def _check_permissions(self, subscription, member) -> None:
        """A member's marketing permissions are what the person last said in the store, and
        each one enabled was ticked by them in a consent on record (the evidence)."""
        held = {p["marketing_permission_id"]: p["enabled"]
                for p in member.get("marketing_permissions", [])}
        name = f"{subscription.email} on {subscription.audience.name}"
        for pid, wanted in (subscription.marketing_permissions or {}).items():
            if wanted and not subscription.opted_in:
                continue  # given, then they left the list: never enabled for someone who left
            if held.get(pid, False) != wanted:
                key = (subscription.audience.mailchimp_id, member_hash(subscription.email))
                raise Violation(f"{name}: permission {pid} is {held.get(pid)} in Mailchimp; "
                                f"the person said {wanted}\n{self._history(key)}")
        given = {p["id"] for event in subscription.consent_events.all()
                 for p in event.marketing_permissions if p["enabled"]}
        for pid, enabled in held.items():
            if enabled and pid not in given:
                raise Violation(f"{name}: permission {pid} enabled with no consent giving it")

    def _lineage(self, key) -> list[tuple[str, str]]:
        chain = [key]
        while chain[-1] in self.moved_to and self.moved_to[chain[-1]] not in chain:
            chain.append(self.moved_to[chain[-1]])
        return chain

    def _addresses_of(self, subscription) -> set[tuple[str, str]]:
        list_id = subscription.audience.mailchimp_id
        keys = {key for key, owners in self.owners.items()
                if subscription.pk in owners and key[0] == list_id}
        for key in list(keys):
            keys.update(self._lineage(key))
        # An address that is now another subscription's own is that subscription's contact.
        others = {(list_id, member_hash(email)) for email in Subscription.objects.filter(
            audience=subscription.audience).exclude(pk=subscription.pk)
            .values_list("email", flat=True)}
        return keys - others

    def _check_one_contact(self, subscription, members) -> None:
        contacts = sorted(members[key]["email_address"]
                          for key in self._addresses_of(subscription)
                          if key in members and members[key]["status"] in
                          ("subscribed", "pending", "transactional"))
        if len(contacts) > 1:
            raise Violation(f"{subscription.email} on {subscription.audience.name} has "
                            f"{len(contacts)} contacts in Mailchimp: {contacts}\n" + "\n".join(
                                self._history(key) for key in self._addresses_of(subscription)))

    def _check_opt_out_kept(self, subscription, members) -> None:
        if subscription.opted_in or subscription.consent is None or \
                subscription.consent.action != ConsentEvent.Action.OPT_OUT:
            return
        opted_out_at = subscription.consent.at
        for key in self._addresses_of(subscription):
            member = members.get(key)
            if member is None or member["status"] not in OPTED_IN_STATUSES:
                continue
            confirmed = any(a == "confirm" and at > opted_out_at
                            for at, a in self.people.get(key, []))
            if not confirmed:
                raise Violation(f"{subscription.email} opted out in the store "
                                f"({opted_out_at:%H:%M:%S.%f}) but {member['email_address']} "
                                f"is {member['status']} in Mailchimp\n{self._history(key)}")


def run_machine(*, account, mode: str, examples: int, steps: int, seed: int | None = None) -> None:
    """Run the machine; derandomised (the same sequences every run) unless `seed` is given."""
    broker = Broker()
    unknown = WITHOUT - set(dir(ConsentMachine))
    assert not unknown, f"INVARIANTS_WITHOUT names no rule: {sorted(unknown)}"
    # A plain attribute hides the rule from Hypothesis in the subclass.
    left_out = {name: None for name in WITHOUT}
    machine = type(f"ConsentMachine_{mode}", (ConsentMachine,),
                   {"account": account, "mode": mode, "broker": broker, **left_out})
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if SHRINK else [])
    test = get_state_machine_test(machine, settings=hypothesis_settings(
        max_examples=examples, stateful_step_count=steps, derandomize=seed is None,
        database=None, deadline=None, phases=phases, print_blob=False,
        suppress_health_check=list(HealthCheck),
    ))
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    original = Task.apply_async
    Task.apply_async = lambda task, args=None, kwargs=None, **options: broker.apply_async(
        task, args, kwargs, **options)
    try:
        test()
    finally:
        Task.apply_async = original


@pytest.mark.parametrize("mode", COMPLIANCE_MODES)
def test_random_sequences_keep_the_consent_invariants(mode, settings, account, db):
    configure(settings)
    before = RUNS.copy()
    run_machine(account=account, mode=mode, examples=EXAMPLES, steps=STEPS, seed=SEED)
    sequences = RUNS["sequences"] - before["sequences"]
    steps = RUNS["steps"] - before["steps"]
    print(f"consent invariants ({mode}): {sequences} sequences, {steps} steps")
    assert sequences >= EXAMPLES and steps > sequences


# --- Scenarios the machine found, each on its own -------------------------------------------

def _writes_to(account, audience, email: str) -> list[str]:
    path = f"/3.0/lists/{audience.mailchimp_id}/members/{member_hash(email)}"
    return [f"{e['method']} {e.get('body')}" for e in account.request_log()
            if e["path"] == path and e["method"] in WRITE_METHODS]


def test_a_cleaned_address_learnt_from_a_refused_signup_is_not_sent_again(
        account, news_list, broker_off):
    """Found by the machine (seed 1). The store opts out, Mailchimp then cleans the address
    (a bounce), and the person signs up again: the PUT's answer says `cleaned` and the attempt
    fails ("never sends a cleaned address again"). But the answer is not kept: the
    subscription's `mailchimp_status` still says unsubscribed, so the next signup PUTs the
    cleaned address once more, and so does every one after it."""
    from .helpers import drain

    email = "bounced@example.com"
    signup = {"email": email, "use_defaults": True, "source": Source.FOOTER, "ip": "203.0.113.1"}
    [subscription] = services.subscription_subscribe(**signup).subscriptions
    drain()
    services.subscription_unsubscribe(subscription_id=subscription.pk, source=Source.ACCOUNT)
    drain()
    account.clean(news_list.mailchimp_id, email)
    account.clear_requests()

    services.subscription_subscribe(**signup)
    drain()
    subscription.refresh_from_db()
    assert subscription.state == Subscription.State.FAILED
    assert "cleaned" in subscription.failure_reason
    blind = _writes_to(account, news_list, email)
    assert len(blind) == 1  # the store could not know before Mailchimp's answer

    services.subscription_subscribe(**signup)  # the person tries again
    drain()
    assert _writes_to(account, news_list, email) == blind, (
        "the store wrote a cleaned address again after Mailchimp's answer said cleaned")
    subscription.refresh_from_db()
    assert subscription.state == Subscription.State.FAILED and subscription.failure_reason


def test_a_member_gone_from_its_address_in_mailchimp_is_not_left_waiting_forever(
        account, news_list, broker_off):
    """Found by the machine (seed 2). The person changes their address in Mailchimp's
    preference centre; then the store sends a change (new groups on the account page). The
    PATCH to the address the store knows answers 404, and the engine records that as a
    success: `sent_version` catches up, `mailchimp_email` and `mailchimp_status` are emptied
    and the state is "Waiting to be sent" -- with nothing due, nothing failed, for ever. A
    subscription must end confirmed (its state what Mailchimp holds) or failed with a reason."""
    from .factories import CustomerFactory, interest
    from .helpers import drain

    customer = CustomerFactory(email="mover@example.com")
    services.subscription_set_for_customer(
        user=customer, choices={news_list.pk: [interest(news_list, "Offers").pk]},
        source=Source.ACCOUNT, consent_text="Subscribe to our news list")
    drain()
    account.change_email(news_list.mailchimp_id, "mover@example.com", "elsewhere@example.com")

    services.subscription_set_for_customer(
        user=customer, choices={news_list.pk: [interest(news_list, "Recipes").pk]},
        source=Source.ACCOUNT, consent_text="Subscribe to our news list")
    drain()

    # The engine finds the member by Mailchimp's unique_email_id, follows the person to the
    # address they chose there (never moving it back) and sends the change to it.
    subscription = Subscription.objects.get(user=customer)
    assert subscription.email == "elsewhere@example.com"
    assert subscription.sent_version == subscription.wanted_version
    assert (subscription.state, subscription.mailchimp_status) == (
        Subscription.State.SUBSCRIBED, "subscribed")
    from .helpers import member

    moved = member(account, news_list, "elsewhere@example.com")
    assert moved["interests"][interest(news_list, "Recipes").mailchimp_id] is True
    assert member(account, news_list, "mover@example.com") is None
    # The customer's page shows that one subscription, and acts on it.
    services.subscription_set_for_customer(user=customer, choices={}, source=Source.ACCOUNT)
    drain()
    assert member(account, news_list, "elsewhere@example.com")["status"] == "unsubscribed"
    assert Subscription.objects.count() == 1


def test_an_admin_email_change_keeps_what_mailchimp_confirmed(account, news_list, broker_off):
    """Found by the machine (seeds 3, 8, 9). Staff change a subscribed customer's address and
    nothing else: the engine sends only the move (PATCH old address, email_address new), and
    `send()` then returns `MemberResult(found=True, status="")` instead of the move's answer.
    `record_success` writes that: `mailchimp_status` is emptied and the state becomes "Waiting
    to be sent" with nothing due, for ever (a contact shows as unsubscribed); what Mailchimp
    confirmed (subscribed, unsubscribed, cleaned) is forgotten by the consent rules."""
    from .factories import CustomerFactory, interest
    from .helpers import drain, member

    customer = CustomerFactory(email="before@example.com")
    services.subscription_set_for_customer(
        user=customer, choices={news_list.pk: [interest(news_list, "Offers").pk]},
        source=Source.ACCOUNT, consent_text="Subscribe to our news list")
    drain()
    customer.email = "after@example.com"
    customer.save(update_fields=["email"])
    services.subscription_email_change(user=customer, old_email="before@example.com",
                                       new_email="after@example.com")
    drain()

    assert member(account, news_list, "after@example.com")["status"] == "subscribed"
    assert member(account, news_list, "before@example.com") is None
    subscription = Subscription.objects.get(email="after@example.com")
    assert subscription.sent_version == subscription.wanted_version
    assert (subscription.state, subscription.mailchimp_status) == (
        Subscription.State.SUBSCRIBED, "subscribed")


def test_a_timed_out_signup_then_an_email_change_leaves_one_contact(
        settings, account, news_list, broker_off):
    """Found by the machine (seed 6). The first PUT of a new subscriber times out (it may
    still land, and here it does); before the retry, staff change the customer's address. The
    retry reads the member first, but only at the new address and at `mailchimp_email` (empty:
    nothing was ever confirmed), not at the address the timed-out call was sent to; so it
    creates the new address as a second contact, and the old one stays subscribed with no
    subscription in the store to unsubscribe it."""
    from .factories import CustomerFactory, interest
    from .helpers import drain, members

    configure(settings)
    customer = CustomerFactory(email="first@example.com")
    services.subscription_set_for_customer(
        user=customer, choices={news_list.pk: [interest(news_list, "Offers").pk]},
        source=Source.ACCOUNT, consent_text="Subscribe to our news list")
    account.hang(HANG_SECONDS, times=1, route="/lists/*/members/*", method="PUT")
    drain(rounds=1)
    subscription = Subscription.objects.get(email="first@example.com")
    assert subscription.outcome_unknown  # the PUT timed out
    time.sleep(HANG_SECONDS)  # ... and lands meanwhile

    customer.email = "second@example.com"
    customer.save(update_fields=["email"])
    services.subscription_email_change(user=customer, old_email="first@example.com",
                                       new_email="second@example.com")
    time.sleep(0.3)  # the retry's backoff
    drain()

    contacts = sorted(m["email_address"] for m in members(account, news_list)
                      if m["status"] in ("subscribed", "pending", "transactional"))
    assert contacts == ["second@example.com"], f"one customer, contacts {contacts}"


def test_a_timed_out_batch_subscribe_then_an_email_change_leaves_one_contact(
        settings, account, news_list, broker_off):
    """Found by the bench (seed 101). Staff add a customer from the backlog; Mailchimp's batch
    subscribe times out (and lands later). Staff then change the customer's address. The
    batch's address was not kept as the one to read first, so the retry created the new
    address beside the old one; and had it been read too early, the late batch would still
    have made the second contact: the retry waits until a late call can no longer land."""
    from .factories import CustomerFactory
    from .helpers import members

    configure(settings)
    settings.SUBSCRIPTIONS_BULK_THRESHOLD = 0
    customer = CustomerFactory(email="batch@example.com")
    services.subscriptions_subscribe_users(user_ids=[customer.pk], audience_ids=[news_list.pk])
    account.hang(HANG_SECONDS, times=1, route="/lists/*", method="POST")
    bulk.drain()
    subscription = Subscription.objects.get()
    assert subscription.outcome_unknown and subscription.mailchimp_email == "batch@example.com"
    customer.email = "renamed@example.com"
    customer.save(update_fields=["email"])
    services.subscription_email_change(user=customer, old_email="batch@example.com",
                                       new_email="renamed@example.com")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        bulk.drain()
        subscription.refresh_from_db()
        if subscription.sent_version == subscription.wanted_version:
            break
        time.sleep(0.2)
    contacts = sorted(m["email_address"] for m in members(account, news_list)
                      if m["status"] in ("subscribed", "pending", "transactional"))
    assert contacts == ["renamed@example.com"], f"one customer, contacts {contacts}"
    assert subscription.state == Subscription.State.SUBSCRIBED


def test_an_unsubscribe_reaches_a_person_who_changed_their_address_in_mailchimp(
        account, news_list, broker_off):
    """Found by the bench (seed 102). The person changes their address in Mailchimp's
    preference centre, then opts out in the store: the PATCH to the address the store knew
    answered 404 and counted as done, and the member stayed subscribed at the new address."""
    from .factories import CustomerFactory
    from .helpers import drain, member, requests_log

    customer = CustomerFactory(email="ann@example.com")
    services.subscription_set_for_customer(user=customer, choices={news_list.pk: []},
                                           source=Source.ACCOUNT)
    drain()
    assert Subscription.objects.get().mailchimp_unique_id
    account.change_email(news_list.mailchimp_id, "ann@example.com", "ann.home@example.com")
    services.subscription_set_for_customer(user=customer, choices={}, source=Source.ACCOUNT)
    drain()
    assert member(account, news_list, "ann.home@example.com")["status"] == "unsubscribed"
    subscription = Subscription.objects.get()
    assert subscription.email == "ann.home@example.com"  # followed, never moved back
    assert subscription.state == Subscription.State.UNSUBSCRIBED
    moves = [r for r in requests_log(account) if r["method"] == "PATCH"
             and "email_address" in (r.get("body") or {})]
    assert moves == []


def test_a_new_consent_restates_the_persons_permissions_on_a_member_made_afresh(
        account, news_list, broker_off):
    """Found by the bench (seed 103). The person gave a GDPR permission; their member was
    then deleted in Mailchimp, and they signed up again: only permissions changed since the
    last send went out, so the new member had none of what the person had said."""
    from mailchimp_integration.services import audience_sync_all

    from .factories import CustomerFactory
    from .helpers import drain, forget, member

    account.set_marketing_permissions(news_list.mailchimp_id, ["Email", "Direct Mail"])
    account.subscribe(news_list.mailchimp_id, "first@example.com")
    audience_sync_all()
    news_list.refresh_from_db()
    shown = [{**p, "enabled": p["text"] == "Email"} for p in news_list.marketing_permissions]
    customer = CustomerFactory(email="gdpr@example.com")
    services.subscription_set_for_customer(user=customer, choices={news_list.pk: []},
                                           source=Source.ACCOUNT,
                                           permissions={news_list.pk: shown})
    drain()
    services.subscription_set_for_customer(user=customer, choices={}, source=Source.ACCOUNT)
    drain()
    forget(account, news_list, "gdpr@example.com")
    services.subscription_set_for_customer(user=customer, choices={news_list.pk: []},
                                           source=Source.ACCOUNT)
    drain()
    again = member(account, news_list, "gdpr@example.com")
    assert {p["text"] for p in again["marketing_permissions"] if p["enabled"]} == {"Email"}


def test_a_new_signup_follows_a_person_who_changed_their_address_in_mailchimp(
        account, news_list, broker_off):
    """Found by the bench (seed 101, second run). The person moved their member to another
    address in Mailchimp, then signed up again in the store with the old one: the PUT created
    the old address as a second contact beside the one they moved."""
    from .helpers import drain, members

    def footer():
        services.subscription_subscribe(email="ann@example.com", use_defaults=True,
                                        source=Source.FOOTER, consent_text="Sign me up")

    footer()
    drain()
    account.change_email(news_list.mailchimp_id, "ann@example.com", "ann.work@example.com")
    # They leave and come back in the store before anything is sent: one new consent to send.
    services.subscription_unsubscribe(subscription_id=Subscription.objects.get().pk,
                                      source=Source.ACCOUNT)
    footer()
    drain()
    contacts = sorted(m["email_address"] for m in members(account, news_list)
                      if m["status"] in ("subscribed", "pending", "transactional"))
    assert contacts == ["ann.work@example.com"], contacts
    assert Subscription.objects.get().email == "ann.work@example.com"
