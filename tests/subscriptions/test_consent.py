"""The consent rules as a table: each row a rule of subscriptions/consent.py, each checked for
every Mailchimp status a member can have."""
import pytest

from subscriptions import consent
from subscriptions.models import ConsentEvent, Source, Subscription

STATUSES = ["", "subscribed", "pending", "unsubscribed", "cleaned", "archived", "transactional"]


def event(action="opt_in", *, source=Source.FOOTER, double_opt_in=False,
          needs_confirmation=False):
    return ConsentEvent(action=action, actor="person", source=source,
                        double_opt_in=double_opt_in, needs_confirmation=needs_confirmation)


# Rule 2 and 4: after an upsert, the person's new opt-in moves a member only this way.
AFTER_WRITE = {
    # remote status: (double opt-in off, double opt-in on)
    "": ("", ""),
    "subscribed": ("", ""),
    "pending": ("", ""),  # stays pending until Mailchimp says otherwise
    "unsubscribed": ("pending", "pending"),  # only through the confirmation email
    "archived": ("pending", "pending"),
    "cleaned": ("", ""),  # never re-sent: the engine refuses the write (test_regressions)
    "transactional": ("subscribed", "pending"),
}


@pytest.mark.parametrize("remote", STATUSES)
@pytest.mark.parametrize("double_opt_in", [False, True])
def test_rule_2_and_4_the_persons_new_opt_in(remote, double_opt_in):
    got = consent.status_after_write(event(double_opt_in=double_opt_in), new=True,
                                     remote_status=remote)
    assert got == AFTER_WRITE[remote][double_opt_in]
    assert got != "subscribed" or remote == "transactional"


@pytest.mark.parametrize("remote", STATUSES)
def test_rule_1_no_new_consent_no_status(remote):
    assert consent.status_after_write(event(), new=False, remote_status=remote) == ""
    assert consent.status_after_write(None, new=True, remote_status=remote) == ""


@pytest.mark.parametrize("remote", STATUSES)
def test_rule_5_staff_in_bulk_never_change_an_existing_members_status(remote):
    bulk = event(source=Source.ADMIN_BULK)
    assert consent.status_after_write(bulk, new=True, remote_status=remote) == ""
    contact = event("contact", source=Source.ADMIN_BULK)
    assert consent.status_after_write(contact, new=True, remote_status=remote) == ""
    assert consent.status_if_new(contact) == "transactional"


@pytest.mark.parametrize("double_opt_in, needs_confirmation, expected", [
    (False, False, "subscribed"),
    (True, False, "pending"),
    (False, True, "pending"),  # opted out before: back only through confirmation
    (True, True, "pending"),
])
def test_rule_2_and_4_a_new_member_is_created_with_the_setting_given_with_the_consent(
    double_opt_in, needs_confirmation, expected
):
    got = consent.status_if_new(event(double_opt_in=double_opt_in,
                                      needs_confirmation=needs_confirmation))
    assert got == expected


@pytest.mark.parametrize("remote, sent_is_latest, expected", [
    ("", False, True), ("subscribed", False, True), ("subscribed", True, True),
    ("pending", True, True), ("transactional", True, True),
    ("unsubscribed", True, False), ("archived", True, False),
    ("cleaned", False, False), ("cleaned", True, False),
])
def test_rule_1_an_opt_out_is_sent_while_new_and_whenever_mailchimp_holds_them_in(
    remote, sent_is_latest, expected
):
    opt_out = ConsentEvent(pk=7, action="opt_out")
    subscription = Subscription(opted_in=False, consent=opt_out, mailchimp_status=remote,
                                sent_consent_id=7 if sent_is_latest else None)
    assert consent.unsubscribe_needed(subscription) is expected


@pytest.mark.django_db
@pytest.mark.parametrize("remote", STATUSES)
def test_rule_3_an_opt_in_after_an_opt_out_needs_confirmation(news_list, remote):
    subscription = Subscription.objects.create(email="a@example.com", audience=news_list,
                                               source=Source.FOOTER, mailchimp_status=remote)
    first = consent.event_record(subscription=subscription, action="opt_in", actor="person",
                                 source=Source.FOOTER, double_opt_in=False)
    assert first.needs_confirmation is (remote in consent.LOCKED_STATUSES)
    consent.event_record(subscription=subscription, action="opt_out", actor="person",
                         source=Source.ACCOUNT, double_opt_in=False)
    again = consent.event_record(subscription=subscription, action="opt_in",
                                 actor="anonymous", source=Source.FOOTER, double_opt_in=False)
    assert again.needs_confirmation
    assert subscription.consent_events.count() == 3  # appended, never overwritten
    assert consent.has_opted_out(subscription) and not consent.bulk_add_allowed(subscription)


def test_rule_2_a_cleaned_address_is_refused_before_any_call():
    subscription = Subscription(opted_in=True, mailchimp_status="cleaned")
    assert "cleaned" in consent.may_send(subscription)
    assert consent.may_send(Subscription(opted_in=True, mailchimp_status="unsubscribed")) == ""
