"""The back office: the customer's "Mailchimp news lists" tab, the action, the sync log."""
import pytest
from django.urls import reverse

from subscriptions.models import Push, Source, Subscription

from .factories import CustomerFactory, groups_field, interest, sandbox_list
from .helpers import drain, forget, member, shown

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_client):
    return admin_client


def test_the_customer_page_links_to_the_news_lists_tab(staff, news_list):
    customer = CustomerFactory()
    page = staff.get(reverse("admin:accounts_user_change", args=[customer.pk])).content.decode()
    assert reverse("admin:subscriptions_customer_lists", args=[customer.pk]) in page
    assert "Mailchimp news lists" in page


def test_the_tab_updates_and_pushes(staff, account, news_list):
    events = sandbox_list(account, name="Events", groups=())
    customer = CustomerFactory(email="tab@example.com", first_name="Tab")
    url = reverse("admin:subscriptions_customer_lists", args=[customer.pk])
    page = staff.get(url).content.decode()
    assert "Newsletter" in page and "Events" in page and 'value="Update"' in page
    response = staff.post(url, {
        f"news_list_{news_list.pk}": "1",
        groups_field(interest(news_list, "Recipes")): [interest(news_list, "Recipes").pk],
        f"news_list_{events.pk}": "", **shown(news_list, events),
    })
    assert response.status_code == 302
    drain()
    got = member(account, news_list, "tab@example.com")
    assert got["status"] == "subscribed" and [t["name"] for t in got["tags"]] == ["admin"]
    assert got["interests"][interest(news_list, "Recipes").mailchimp_id] is True
    assert member(account, events, "tab@example.com") is None


def test_a_removed_lists_subscription_shows_disabled_with_the_reason(staff, news_list):
    from django.utils import timezone

    customer = CustomerFactory(email="gone@example.com")
    Subscription.objects.create(email=customer.email, audience=news_list, user=customer,
                                source=Source.FOOTER)
    news_list.removed_at = timezone.now()
    news_list.removed_reason = "Deleted in Mailchimp"
    news_list.save()
    page = staff.get(reverse("admin:subscriptions_customer_lists", args=[customer.pk]))
    assert "Disabled: Deleted in Mailchimp" in page.content.decode()


def test_subscribe_selected_customers_to(staff, account, news_list):
    customers = [CustomerFactory() for _ in range(3)]
    changelist = reverse("admin:accounts_user_changelist")
    ids = [str(c.pk) for c in customers]
    page = staff.post(changelist, {"action": "subscribe_customers_to", "_selected_action": ids})
    assert page.status_code == 200 and "Newsletter" in page.content.decode()
    response = staff.post(changelist, {
        "action": "subscribe_customers_to", "_selected_action": ids, "apply": "1",
        "audiences": [news_list.pk], "add_as": "subscribed"}, follow=True)
    assert "3 customers added" in response.content.decode()
    assert Subscription.objects.filter(source=Source.ADMIN_BULK).count() == 3
    drain()
    for customer in customers:
        assert member(account, news_list, customer.email)["status"] == "subscribed"
        event = Subscription.objects.get(email=customer.email).consent
        assert event.actor == "staff" and "agreed" in event.wording


def test_the_sync_log_shows_a_permanent_error_and_retries(staff, account, news_list):
    from subscriptions import services

    services.subscription_subscribe(email="x@example.com", use_defaults=True,
                                    source=Source.FOOTER)
    drain()
    forget(account, news_list, "x@example.com")
    Subscription.objects.update(opted_in=False)
    services.subscription_subscribe(email="x@example.com", use_defaults=True,
                                    source=Source.FOOTER)
    drain()
    failed = Push.objects.get(state=Push.State.FAILED)
    log = staff.get(reverse("admin:subscriptions_push_changelist") + "?state__exact=failed")
    assert "Forgotten Email Not Subscribed" in log.content.decode()
    staff.post(reverse("admin:subscriptions_push_changelist"),
               {"action": "retry", "_selected_action": [failed.pk]})
    subscription = Subscription.objects.get()
    assert subscription.state == Subscription.State.WAITING
    assert not subscription.failed_permanently


def test_the_settings_page_saves(staff):
    from subscriptions.models import NewsSettings

    url = reverse("admin:subscriptions_newssettings_changelist")
    assert staff.get(url).status_code == 302
    staff.post(reverse("admin:subscriptions_newssettings_change", args=[1]),
               {"double_opt_in": "on", "customers_choose_lists": "on"})
    row = NewsSettings.objects.get()
    assert row.double_opt_in and row.customers_choose_lists and not row.pushes_paused


def test_an_email_changed_by_staff_carries_over_to_the_same_member(staff, account, news_list):
    from subscriptions import services

    customer = CustomerFactory(email="before@example.com")
    services.subscription_subscribe(email="before@example.com", use_defaults=True,
                                    source=Source.REGISTRATION, user=customer)
    drain()
    response = staff.post(reverse("admin:accounts_user_change", args=[customer.pk]), {
        "email": "After@Example.com", "first_name": "Ann", "last_name": "Lee",
        "is_active": "on", "date_joined_0": "2024-01-02", "date_joined_1": "10:00:00",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    subscription = Subscription.objects.get()
    assert subscription.email == "after@example.com"
    assert subscription.wanted_version > subscription.sent_version
    drain()
    assert member(account, news_list, "after@example.com")["status"] == "subscribed"
    assert member(account, news_list, "before@example.com") is None


# --- Words a store admin reads, and the newsletter settings' permissions ----------------------


def staff_with(*permissions: str):
    from uuid import uuid4

    from django.test import Client

    from tests.mailchimp_integration.factories import staff_user

    client = Client()
    client.force_login(staff_user(email=f"{uuid4().hex[:8]}@example.com", permissions=permissions))
    return client


def test_the_newsletter_settings_need_a_permission_and_a_get_writes_nothing():
    from subscriptions.models import NewsSettings

    settings_url = reverse("admin:subscriptions_newssettings_changelist")
    change_url = reverse("admin:subscriptions_newssettings_change", args=[1])
    clerk = staff_with()
    assert clerk.get(settings_url).status_code == 403
    assert clerk.get(change_url).status_code == 403
    assert not NewsSettings.objects.exists()

    reader = staff_with("subscriptions.view_newssettings")
    assert reader.get(settings_url).status_code == 302
    page = reader.get(change_url)
    assert page.status_code == 200
    assert not NewsSettings.objects.exists()  # the defaults are shown, nothing is written
    html = " ".join(page.content.decode().split())
    assert "Newsletter settings &rsaquo; Newsletter settings" not in html
    assert "Change newsletter settings" not in html
    assert reader.post(change_url, {"double_opt_in": "on"}).status_code == 403
    assert not NewsSettings.objects.exists()

    editor = staff_with("subscriptions.view_newssettings", "subscriptions.change_newssettings")
    html = editor.get(change_url).content.decode()
    assert "Ask new subscribers to confirm" in html and "Pushes paused" not in html
    assert editor.post(change_url, {"double_opt_in": "on"}).status_code == 302
    assert NewsSettings.objects.get().double_opt_in


def visible_text(response) -> str:
    """The words on the page, without tags, attributes, scripts or styles."""
    import re

    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_sync_log_and_subscriptions_read_as_plain_words(staff, account, news_list):
    from subscriptions import services

    for n in range(2):
        services.subscription_subscribe(email=f"p{n}@example.com", use_defaults=True,
                                        source=Source.FOOTER, ip="192.0.2.7")
    drain()
    log = visible_text(staff.get(reverse("admin:subscriptions_push_changelist")))
    assert "2 entries" in log and "Mailchimp sync log entry to change" not in log
    assert "By channel" not in log and "By how it was sent" in log
    assert "push" not in log.lower()
    assert "Send the selected failed entries again" in log

    subscription = Subscription.objects.first()
    page = staff.get(reverse("admin:subscriptions_subscription_change", args=[subscription.pk]))
    html = page.content.decode()
    assert "Consent ip" not in html and "Consent given from IP address" in html
    assert "Last pushed" not in html and "Annulled" not in html
    listing = staff.get(reverse("admin:subscriptions_subscription_changelist")).content.decode()
    assert "Last sent" in listing and "Last pushed" not in listing


def test_the_tab_counts_lists_in_words(staff, account, news_list):
    customer = CustomerFactory()
    url = reverse("admin:subscriptions_customer_lists", args=[customer.pk])
    page = staff.post(url, {f"list_{news_list.mailchimp_id}": "subscribe"}, follow=True)
    text = page.content.decode()
    assert "list(s)" not in text


def test_the_tab_says_the_state_in_words_an_admin_reads(staff, account, news_list):
    from subscriptions import services

    customer = CustomerFactory()
    services.subscription_subscribe(email=customer.email, use_defaults=True,
                                    source=Source.FOOTER, user=customer)
    url = reverse("admin:subscriptions_customer_lists", args=[customer.pk])
    text = visible_text(staff.get(url))
    assert "Waiting to be sent to Mailchimp" in text and "pushed" not in text


def test_the_backlog_action_shows_list_by_list_who_is_added_and_who_is_left_out_and_why(
    staff, account, news_list
):
    from subscriptions import services

    events = sandbox_list(account, name="Events", groups=())
    fresh, member_, out, bounced = (CustomerFactory(email=f"{n}@example.com")
                                    for n in ("fresh", "in", "out", "bounced"))
    services.subscription_set_for_customer(user=member_, choices={news_list.pk: []},
                                           source=Source.ACCOUNT)
    services.subscription_set_for_customer(user=out, choices={news_list.pk: []},
                                           source=Source.ACCOUNT)
    services.subscription_set_for_customer(user=out, choices={}, source=Source.ACCOUNT)
    services.subscription_set_for_customer(user=bounced, choices={news_list.pk: []},
                                           source=Source.ACCOUNT)
    Subscription.objects.filter(email="bounced@example.com").update(mailchimp_status="cleaned")
    changelist = reverse("admin:accounts_user_changelist")
    ids = [str(c.pk) for c in (fresh, member_, out, bounced)]
    page = staff.post(changelist, {
        "action": "subscribe_customers_to", "_selected_action": ids, "preview": "1",
        "audiences": [news_list.pk, events.pk], "add_as": "subscribed"}).content.decode()
    rows = {row.split("</th>")[0].rsplit(">", 1)[-1]: row
            for row in page.split('<tr><th scope="row">')[1:]}
    cells = {name: [c.split("<")[0] for c in row.split("<td>")[1:]] for name, row in rows.items()}
    # added, already on the list, left out (unsubscribed), left out (bounced)
    assert cells == {"Newsletter": ["1", "1", "1", "1"], "Events": ["4", "0", "0", "0"]}
    assert Subscription.objects.filter(source=Source.ADMIN_BULK).count() == 0  # only a preview
    response = staff.post(changelist, {
        "action": "subscribe_customers_to", "_selected_action": ids, "apply": "1",
        "audiences": [news_list.pk, events.pk], "add_as": "subscribed"}, follow=True)
    text = response.content.decode()
    assert "5 customers added" in text and "1 was left out because they unsubscribed" in text
    assert "1 was left out because its address bounced" in text
