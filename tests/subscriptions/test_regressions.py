"""Each defect the issue "One subscription, one truth" reproduced on the old engine, as a test
of the behaviour the consent rules and the delivery engine require (named by scenario)."""
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from subscriptions import bulk, delivery, selectors, services
from subscriptions.models import ConsentEvent, NewsSettings, Push, Source, Subscription

from .factories import CustomerFactory, interest
from .helpers import drain, member, members, requests_log

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_both_compliance_modes(sandbox_compliance_mode):
    """Mailchimp accounts differ: each test holds in strict and in permissive mode, and
    asserts what the store sends, not only what the sandbox refuses."""
    return sandbox_compliance_mode


def footer(email="ann@example.com", **kw):
    return services.subscription_subscribe(
        email=email, use_defaults=True, source=Source.FOOTER, ip="203.0.113.7",
        consent_text=selectors.footer_consent_text(), **kw)


def writes(account, email=None):
    """The PUT/PATCH/POST bodies the store sent to members (optionally of one address)."""
    from .helpers import member_hash

    return [r for r in requests_log(account)
            if r["method"] in ("PUT", "PATCH") and "/members/" in r["path"]
            and (email is None or member_hash(email) in r["path"])]


def test_a_member_in_compliance_state_inside_a_bulk_chunk_is_sent_once_and_never_loops(
    account, news_list
):
    customers = CustomerFactory.create_batch(3)
    account.subscribe(news_list.mailchimp_id, customers[0].email)
    account.unsubscribe(news_list.mailchimp_id, customers[0].email)  # years ago, in Mailchimp
    services.subscriptions_subscribe_users(
        user_ids=[c.pk for c in customers], audience_ids=[news_list.pk])
    account.clear_requests()
    stats = bulk.drain()
    assert stats["bulk_calls"] == 2  # one batch subscribe, one /batches of tags
    assert stats["single"] == 1  # the member Mailchimp had: updated on its own, once
    assert bulk.drain() == {"bulk_calls": 0, "single": 0, "created": 0, "failed": 0}
    assert member(account, news_list, customers[0].email)["status"] == "unsubscribed"
    [put] = writes(account, customers[0].email)
    assert "status" not in put["body"]  # staff never change an existing member's status
    assert Subscription.objects.filter(sent_version__lt=1).count() == 0


def test_an_unsubscribe_made_while_the_subscribe_is_in_flight_is_sent_after_it(
    account, news_list
):
    footer()
    sub = Subscription.objects.get()
    first = delivery.claim(subscription_id=sub.pk)
    services.subscription_unsubscribe(subscription_id=sub.pk, source=Source.ACCOUNT)
    assert delivery.claim(subscription_id=sub.pk) is None  # no second flight of one record
    delivery.deliver_claimed(first, client=delivery.mailchimp_client_build())
    sub.refresh_from_db()
    assert sub.sent_version < sub.wanted_version  # what was sent was the older version
    assert sub.mailchimp_status == "subscribed" and sub.state == Subscription.State.WAITING
    drain()
    assert member(account, news_list, "ann@example.com")["status"] == "unsubscribed"
    sub.refresh_from_db()
    assert sub.state == Subscription.State.UNSUBSCRIBED and sub.sent_version == sub.wanted_version


def test_an_email_change_during_the_first_push_records_the_address_that_was_sent(
    account, news_list
):
    customer = CustomerFactory(email="old@example.com")
    services.subscription_subscribe(email="old@example.com", use_defaults=True,
                                    source=Source.REGISTRATION, user=customer)
    sub = Subscription.objects.get()
    first = delivery.claim(subscription_id=sub.pk)
    services.subscription_email_change(user=customer, old_email="old@example.com",
                                       new_email="new@example.com")
    delivery.deliver_claimed(first, client=delivery.mailchimp_client_build())
    sub.refresh_from_db()
    assert sub.mailchimp_email == "old@example.com"  # what Mailchimp has, not what we want
    drain()
    assert member(account, news_list, "old@example.com") is None
    assert member(account, news_list, "new@example.com")["status"] == "subscribed"
    assert len(members(account, news_list)) == 1


def test_the_bulk_path_carries_an_email_change_over_to_the_same_member(
    account, news_list, settings
):
    settings.SUBSCRIPTIONS_BULK_THRESHOLD = 0
    customer = CustomerFactory(email="old@example.com")
    services.subscription_subscribe(email="old@example.com", use_defaults=True,
                                    source=Source.REGISTRATION, user=customer)
    bulk.drain()
    services.subscription_email_change(user=customer, old_email="old@example.com",
                                       new_email="new@example.com")
    bulk.drain()
    assert [m["email_address"] for m in members(account, news_list)] == ["new@example.com"]
    services.subscription_unsubscribe(subscription_id=Subscription.objects.get().pk,
                                      source=Source.ACCOUNT)
    bulk.drain()
    assert member(account, news_list, "new@example.com")["status"] == "unsubscribed"


def test_a_group_change_sends_only_that_group_and_keeps_mailchimp_side_choices(
    account, news_list
):
    footer(first_name="Ann")
    drain()
    recipes = interest(news_list, "Recipes").mailchimp_id
    account.update_profile(news_list.mailchimp_id, "ann@example.com",
                           interests={recipes: True})  # chosen in Mailchimp's preference centre
    customer = CustomerFactory(email="ann@example.com", first_name="Ann")
    offers = interest(news_list, "Offers")
    services.subscription_set_for_customer(
        user=customer, choices={news_list.pk: []}, source=Source.ACCOUNT)
    # A checkout with the box ticked and a (gift) name: names only fill empty ones.
    services.subscription_subscribe(email="ann@example.com", use_defaults=True,
                                    source=Source.CHECKOUT, first_name="Gift",
                                    last_name="Friend", user=customer)
    account.clear_requests()
    drain()
    bodies = [w["body"] for w in writes(account)]
    assert all("status" not in b and "status_if_new" not in b for b in bodies), bodies
    got = member(account, news_list, "ann@example.com")
    assert got["interests"][recipes] is True  # not overwritten
    assert got["interests"][offers.mailchimp_id] is True  # re-added by the checkout
    assert got["merge_fields"]["FNAME"] == "Ann" and got["merge_fields"]["LNAME"] == "Friend"


def test_an_anonymous_footer_signup_never_overwrites_an_opt_out_and_asks_for_confirmation(
    account, news_list
):
    customer = CustomerFactory(email="cy@example.com")
    services.subscription_subscribe(email="cy@example.com", use_defaults=True,
                                    source=Source.REGISTRATION, user=customer, ip="198.51.100.1")
    drain()
    services.subscription_set_for_customer(user=customer, choices={}, source=Source.ACCOUNT)
    drain()
    assert member(account, news_list, "cy@example.com")["status"] == "unsubscribed"
    footer(email="cy@example.com")  # a stranger types their address
    sub = Subscription.objects.get()
    history = list(sub.consent_events.order_by("at", "pk").values_list("action", "actor", "ip"))
    assert history == [("opt_in", "person", "198.51.100.1"), ("opt_out", "person", None),
                       ("opt_in", "anonymous", "203.0.113.7")]
    assert sub.consent.needs_confirmation
    drain()
    assert member(account, news_list, "cy@example.com")["status"] == "pending"  # not subscribed
    with pytest.raises(ValueError):
        ConsentEvent.objects.first().save()  # evidence is never changed


def test_the_admin_backlog_action_leaves_out_customers_who_opted_out(account, news_list):
    out = CustomerFactory(email="out@example.com")
    services.subscription_set_for_customer(user=out, choices={news_list.pk: []},
                                           source=Source.ACCOUNT)
    drain()
    services.subscription_set_for_customer(user=out, choices={}, source=Source.ACCOUNT)
    drain()
    fresh = CustomerFactory(email="fresh@example.com")
    result = services.subscriptions_subscribe_users(
        user_ids=[out.pk, fresh.pk], audience_ids=[news_list.pk])
    assert (result.added, result.opted_out) == (1, 1)
    drain()
    assert member(account, news_list, "out@example.com")["status"] == "unsubscribed"
    assert member(account, news_list, "fresh@example.com")["status"] == "subscribed"


def test_the_backlog_action_adds_contacts_as_transactional_without_tags(account, news_list):
    customer = CustomerFactory(email="contact@example.com")
    services.subscriptions_subscribe_users(user_ids=[customer.pk], audience_ids=[news_list.pk],
                                           as_contacts=True)
    drain()
    got = member(account, news_list, "contact@example.com")
    assert got["status"] == "transactional" and got["tags"] == []
    assert Subscription.objects.get().state == Subscription.State.CONTACT


def test_double_opt_in_with_the_backlog_never_demotes_subscribed_members(account, news_list):
    customer = CustomerFactory(email="sub@example.com")
    account.subscribe(news_list.mailchimp_id, "sub@example.com")
    NewsSettings.objects.create(pk=1, double_opt_in=True)
    services.subscriptions_subscribe_users(user_ids=[customer.pk], audience_ids=[news_list.pk])
    bulk.drain()
    assert member(account, news_list, "sub@example.com")["status"] == "subscribed"


def test_turning_double_opt_in_off_never_confirms_members_who_did_not(account, news_list):
    NewsSettings.objects.create(pk=1, double_opt_in=True)
    footer(email="dq@example.com")
    drain()
    assert member(account, news_list, "dq@example.com")["status"] == "pending"
    NewsSettings.objects.filter(pk=1).update(double_opt_in=False)
    services.subscription_subscribe(email="dq@example.com", use_defaults=True,
                                    source=Source.CHECKOUT, first_name="Dee")
    drain()
    assert member(account, news_list, "dq@example.com")["status"] == "pending"
    assert Subscription.objects.get().state == Subscription.State.PENDING


def test_an_email_fixed_by_staff_never_turns_a_mailchimp_unsubscribe_into_a_confirmation(
    account, news_list
):
    customer = CustomerFactory(email="mc@example.com")
    services.subscription_subscribe(email="mc@example.com", use_defaults=True,
                                    source=Source.REGISTRATION, user=customer)
    drain()
    account.unsubscribe(news_list.mailchimp_id, "mc@example.com")  # their own click
    services.subscription_email_change(user=customer, old_email="mc@example.com",
                                       new_email="mc2@example.com")
    account.clear_requests()
    drain()
    assert member(account, news_list, "mc2@example.com")["status"] == "unsubscribed"
    assert not [w for w in writes(account) if "status" in w["body"]]


def test_a_cleaned_address_is_never_sent_again(account, news_list):
    footer()
    drain()
    account.clean(news_list.mailchimp_id, "ann@example.com")
    Subscription.objects.update(mailchimp_status="cleaned")  # as a webhook or a read says
    services.subscription_unsubscribe(subscription_id=Subscription.objects.get().pk,
                                      source=Source.ACCOUNT)
    drain()
    footer()  # they try again: the address still bounces
    account.clear_requests()
    [push] = drain()
    assert push.state == Push.State.FAILED and "cleaned" in push.last_error
    assert writes(account) == []


def test_not_configured_holds_pushes_instead_of_failing_them(account, news_list, settings):
    settings.MAILCHIMP_API_KEY = ""
    footer()
    sub = Subscription.objects.get()
    assert delivery.deliver(subscription_id=sub.pk) is False
    sub.refresh_from_db()
    assert sub.state == Subscription.State.WAITING and not sub.failed_permanently
    assert "not connected" in sub.failure_reason.lower()
    assert not Push.objects.exists()


def test_an_unexpected_error_never_leaves_a_subscription_claimed(account, news_list):
    footer()
    sub = Subscription.objects.get()
    with mock.patch.object(delivery, "send", side_effect=KeyError("boom")):
        with pytest.raises(KeyError):
            delivery.deliver(subscription_id=sub.pk)
    sub.refresh_from_db()
    assert not sub.claim_token and sub.state == Subscription.State.FAILED
    assert "boom" in sub.failure_reason
    assert Push.objects.get().state == Push.State.FAILED


def test_the_sweeper_reads_no_more_ids_than_it_needs(account, news_list, broker_off):
    for n in range(25):
        footer(email=f"s{n}@example.com")
    Subscription.objects.update(next_attempt_at=timezone.now() - timezone.timedelta(minutes=5))
    with CaptureQueriesContext(connection) as ctx:
        stats = delivery.sweep()
    assert stats["due"] == 21  # threshold + 1: enough to choose the bulk path
    assert not any("LIMIT 100000" in q["sql"] for q in ctx.captured_queries)


def test_finished_attempts_are_pruned_after_the_retention(account, news_list):
    footer()
    drain()
    Push.objects.update(finished_at=timezone.now() - timezone.timedelta(days=91))
    assert delivery.prune() == 1
    assert Subscription.objects.exists()


def test_a_tag_refused_after_the_upsert_leaves_the_subscription_confirmed(account, news_list):
    account.fail_status(503, times=1, route="/lists/*/members/*/tags", method="POST")
    footer()
    [push] = drain()
    sub = Subscription.objects.get()
    assert push.state == Push.State.DONE and push.last_error.startswith(delivery.TAG_NOT_APPLIED)
    assert sub.state == Subscription.State.SUBSCRIBED
    assert sub.sent_tags == []  # sent again with the next change


def test_an_unsubscribe_after_a_timed_out_subscribe_is_checked_again_when_a_late_call_lands(
    account, news_list, settings, broker_off
):
    settings.MAILCHIMP_READ_TIMEOUT = 0.5
    settings.SUBSCRIPTIONS_UNKNOWN_OUTCOME_SECONDS = 0
    account.hang(2, times=1, route="/lists/*/members/*", method="PUT")
    footer()
    [attempt] = drain(rounds=1)
    assert attempt.state == Push.State.RETRY  # timed out: it may still land
    sub = Subscription.objects.get()
    services.subscription_unsubscribe(subscription_id=sub.pk, source=Source.ACCOUNT)
    Subscription.objects.update(next_attempt_at=timezone.now())
    account.clear_requests()
    drain()
    methods = [r["method"] for r in requests_log(account) if "/members/" in r["path"]]
    assert methods[0] == "GET"  # where it stands, before anything is written
    sub.refresh_from_db()
    assert sub.verify_at is not None and sub.state == Subscription.State.UNSUBSCRIBED
    # The late PUT lands after the unsubscribe (as a slow Mailchimp does)...
    account.subscribe(news_list.mailchimp_id, "ann@example.com")
    # ...and the check, once Mailchimp's longest processing time has passed, puts it right.
    stats = delivery.sweep()
    assert stats["verify"] == 1
    drain()
    assert member(account, news_list, "ann@example.com")["status"] == "unsubscribed"
    sub.refresh_from_db()
    assert sub.verify_at is None and sub.sent_version == sub.wanted_version


def test_an_undecryptable_key_holds_pushes_and_they_go_once_the_old_key_is_a_fallback(
    account, news_list, settings, no_mailchimp_key_in_environment
):
    from mailchimp_integration import services as mailchimp_services

    settings.MAILCHIMP_API_URL = account.url
    mailchimp_services.connection_save_api_key(api_key=account.api_key)
    old_secret = settings.SECRET_KEY
    footer()
    settings.SECRET_KEY = "rotated-" + "x" * 50
    sub = Subscription.objects.get()
    assert delivery.deliver(subscription_id=sub.pk) is False
    sub.refresh_from_db()
    assert sub.state == Subscription.State.WAITING and not sub.failed_permanently
    assert "cannot be decrypted" in sub.failure_reason
    settings.SECRET_KEY_FALLBACKS = [old_secret]
    drain()
    assert member(account, news_list, "ann@example.com")["status"] == "subscribed"


def test_the_drain_claims_a_chunk_at_a_time_and_stops_an_audience_on_a_429(
    account, news_list
):
    for n in range(30):
        footer(email=f"p{n}@example.com")
    claims = []
    real = delivery.claim_many

    def counted(**kwargs):
        claims.append(kwargs)
        return real(**kwargs)

    account.fail_429(times=None, route=f"/lists/{news_list.mailchimp_id}", method="POST")
    with mock.patch.object(bulk, "claim_many", counted):
        stats = bulk.drain()
    assert len(claims) == 1 and stats["bulk_calls"] == 1  # one chunk, then it stops
    assert Subscription.objects.filter(attempts=1, claim_token="").count() == 30
    account.clear_faults()
    Subscription.objects.update(next_attempt_at=timezone.now())
    with mock.patch.object(bulk, "claim_many", counted):
        stats = bulk.drain()
    assert len(claims) == 3  # the chunk, then the empty claim that ends it
    assert stats["created"] == 30 and stats["bulk_calls"] == 2  # members, then their tags


def test_a_group_deleted_in_mailchimp_changes_no_subscription_row(account, news_list):
    from mailchimp_integration.services import audience_sync_all

    for n in range(20):
        footer(email=f"g{n}@example.com")
    drain()
    offers = interest(news_list, "Offers")
    account.delete_interest(news_list.mailchimp_id, offers.category.mailchimp_id,
                            offers.mailchimp_id)
    before = list(Subscription.objects.order_by("pk").values_list("pk", "updated_at"))
    with CaptureQueriesContext(connection) as ctx:
        audience_sync_all()
    assert not [q for q in ctx.captured_queries
                if "subscriptions_subscription" in q["sql"] and q["sql"].startswith("UPDATE")]
    assert list(Subscription.objects.order_by("pk").values_list("pk", "updated_at")) == before
    offers.refresh_from_db()
    assert offers.removed_at is not None  # the group shows as removed; nothing is sent for it
    assert Subscription.objects.filter(interests=offers).count() == 20


def test_a_worker_whose_claim_lapsed_sends_nothing_and_the_next_holder_reads_first(
    account, news_list
):
    footer()
    sub = Subscription.objects.get()
    stalled = delivery.claim(subscription_id=sub.pk)
    # The worker stalled past the lease: the sweeper frees the claim and another worker
    # takes it; then the stalled worker wakes up and would send.
    Subscription.objects.update(
        claimed_at=timezone.now() - delivery.policy().stale_after - timezone.timedelta(seconds=1)
    )
    delivery.sweep()
    successor = delivery.claim(subscription_id=sub.pk)
    assert successor is not None
    client, _ = delivery.client_or_hold()
    delivery.deliver_claimed(stalled, client=client)
    assert writes(account) == []  # the stale worker wrote nothing
    assert Push.objects.get().state == Push.State.LOST
    delivery.deliver_claimed(successor, client=client)
    sub.refresh_from_db()
    assert sub.state == Subscription.State.SUBSCRIBED and not sub.claim_token
    methods = [r["method"] for r in requests_log(account) if "/members/" in r["path"]
               and not r["path"].endswith("/tags")]
    assert methods[0] == "GET" and methods.count("PUT") == 1, methods


def test_a_long_drain_renews_its_claims_so_the_sweeper_never_frees_them(
    account, news_list, settings
):
    settings.SUBSCRIPTIONS_BULK_THRESHOLD = 0
    for n in range(3):
        footer(f"renew{n}@example.com")
    claims = delivery.claim_many(audience_id=news_list.pk, limit=10)
    assert len(claims) == 3
    old = timezone.now() - timezone.timedelta(seconds=60)
    Subscription.objects.update(claimed_at=old)
    client, _ = delivery.client_or_hold()
    delivery.deliver_claimed(claims[0], client=client)
    # Its write renewed the lease of the whole chunk, not only its own.
    rest = Subscription.objects.filter(pk__in=[c.subscription.pk for c in claims[1:]])
    assert all(s.claimed_at > old + timezone.timedelta(seconds=30) for s in rest)
    assert delivery.sweep()["lapsed"] == 0


def test_a_burst_seen_by_a_single_send_queues_one_drain_instead_of_draining_inline(
    account, news_list, settings, broker_off
):
    settings.SUBSCRIPTIONS_BULK_THRESHOLD = 2
    for n in range(4):
        footer(f"burst{n}@example.com")
    from django.core.cache import cache

    cache.delete(delivery.DRAIN_QUEUED_KEY)
    sub = Subscription.objects.order_by("pk").first()
    with mock.patch("subscriptions.tasks.push_drain.delay") as queued:
        assert delivery.deliver(subscription_id=sub.pk) is True
        assert delivery.deliver(subscription_id=sub.pk) is True
    assert queued.call_count == 1  # one drain for the burst, not one per send
    assert writes(account) == [] and Push.objects.count() == 0  # nothing sent inline
    stats = bulk.drain()
    assert stats["bulk_calls"] >= 1 and Subscription.objects.filter(
        state=Subscription.State.SUBSCRIBED).count() == 4


def test_a_drain_past_its_time_takes_no_new_chunk_and_queues_the_next_drain(
    account, news_list, broker_off, django_capture_on_commit_callbacks
):
    for n in range(3):
        footer(f"late{n}@example.com")
    with mock.patch("subscriptions.tasks.push_drain.delay") as queued, \
            django_capture_on_commit_callbacks(execute=True):
        stats = bulk.drain(seconds=0)
    assert stats["bulk_calls"] == 0 and queued.call_count == 1
    assert not Subscription.objects.exclude(claim_token="").exists()


def test_a_cleaned_address_is_not_added_back_as_a_contact_nor_patched(account, news_list):
    """Found by the invariants bench (seed 201): a contact staff added was PUT (status_if_new
    transactional) to an address the store had meanwhile learnt Mailchimp cleaned; and an
    opted-out member the store knows is cleaned got group PATCHes."""
    customer = CustomerFactory(email="bounced@example.com")
    account.subscribe(news_list.mailchimp_id, "bounced@example.com")
    account.clean(news_list.mailchimp_id, "bounced@example.com")
    services.subscriptions_subscribe_users(user_ids=[customer.pk], audience_ids=[news_list.pk],
                                           as_contacts=True)
    Subscription.objects.update(mailchimp_status="cleaned")  # learnt before the push went
    account.clear_requests()
    [push] = drain()
    assert writes(account) == []
    assert push.state == Push.State.FAILED and "cleaned" in push.last_error
    assert member(account, news_list, "bounced@example.com")["status"] == "cleaned"


def test_an_address_that_bounced_stays_bounced_after_its_member_moved_away(account, news_list):
    """Found by the invariants bench (seed 201). A customer's address bounced (cleaned in
    Mailchimp); staff then changed the customer's address, which moved the cleaned member
    away; then another customer with the bounced address was added as a contact, and the
    store PUT the bounced address again. The store now remembers bounced addresses per list."""
    first = CustomerFactory(email="ann.new@example.com")
    services.subscription_set_for_customer(user=first, choices={news_list.pk: []},
                                           source=Source.ACCOUNT)
    drain()
    account.clean(news_list.mailchimp_id, "ann.new@example.com")
    first.email = "dee@example.com"
    first.save(update_fields=["email"])
    services.subscription_email_change(user=first, old_email="ann.new@example.com",
                                       new_email="dee@example.com")
    drain()  # the move goes out blind; its answer says cleaned
    second = CustomerFactory(email="ann.new@example.com")
    account.clear_requests()
    result = services.subscriptions_subscribe_users(
        user_ids=[second.pk], audience_ids=[news_list.pk], as_contacts=True)
    assert (result.added, result.bounced) == (0, 1)
    services.subscription_subscribe(email="ann.new@example.com", use_defaults=True,
                                    source=Source.FOOTER, consent_text="Sign me up")
    pushes = drain()
    assert writes(account) == []
    assert [p.state for p in pushes] == [Push.State.FAILED]
    assert "cleaned" in pushes[0].last_error
