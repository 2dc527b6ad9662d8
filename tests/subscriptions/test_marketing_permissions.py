"""GDPR marketing permissions and the entry points' own wording and lists (issue 9, item 8):
read from a member at the list import, shown unticked, sent as `marketing_permissions` for
what was ticked only, and kept with the consent. Against the sandbox, over HTTP."""
import pytest
from django import forms
from django.http import QueryDict
from django.test import Client

from mailchimp_integration.services import audience_sync_all
from subscriptions import selectors, services
from subscriptions.forms import FooterSignupForm, news_choice_from, news_fields_add
from subscriptions.models import ConsentEvent, NewsSettings, Source, Subscription

from .factories import CustomerFactory, sandbox_list
from .helpers import drain, member, member_hash, requests_log, shown

pytestmark = pytest.mark.django_db

TEXTS = ["Email", "Direct Mail", "Customized Online Advertising"]


@pytest.fixture(autouse=True)
def in_both_compliance_modes(sandbox_compliance_mode):
    return sandbox_compliance_mode


@pytest.fixture
def gdpr_list(account, news_list):
    """The Newsletter with GDPR fields on in Mailchimp, imported after a first member."""
    account.set_marketing_permissions(news_list.mailchimp_id, TEXTS)
    account.subscribe(news_list.mailchimp_id, "first@example.com")
    audience_sync_all()
    news_list.refresh_from_db()
    return news_list


class CheckoutLike(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        news_fields_add(self, source="checkout")


def permission_id(audience, text):
    return next(p["id"] for p in audience.marketing_permissions if p["text"] == text)


def writes(account, email):
    return [r for r in requests_log(account)
            if r["method"] in ("PUT", "PATCH") and member_hash(email) in r["path"]]


def enabled(account, audience, email):
    return {p["text"] for p in member(account, audience, email)["marketing_permissions"]
            if p["enabled"]}


def test_the_import_reads_the_permissions_from_a_member(account, news_list):
    account.set_marketing_permissions(news_list.mailchimp_id, TEXTS)
    audience_sync_all()
    news_list.refresh_from_db()
    # On in Mailchimp, but no member yet to read the wording from: none known, nothing shown.
    assert news_list.gdpr_enabled and news_list.marketing_permissions == []
    assert "news_permissions" not in FooterSignupForm().fields
    account.subscribe(news_list.mailchimp_id, "first@example.com")
    account.clear_requests()
    audience_sync_all()
    news_list.refresh_from_db()
    assert [p["text"] for p in news_list.marketing_permissions] == TEXTS
    [read] = [r for r in requests_log(account) if r["path"].endswith("/members")]
    assert read["method"] == "GET"
    # A list without GDPR fields costs no extra call.
    other = sandbox_list(account, name="Other")
    account.clear_requests()
    audience_sync_all()
    other.refresh_from_db()
    assert not other.gdpr_enabled
    assert len([r for r in requests_log(account) if r["path"].endswith("/members")]) == 1


def test_the_footer_sends_only_what_was_ticked_and_keeps_what_was_shown(account, gdpr_list):
    form = FooterSignupForm()
    assert [label for _, label in form.fields["news_permissions"].choices] == TEXTS
    assert form["news_permissions"].value() in (None, [])  # nothing ticked for them
    client = Client(REMOTE_ADDR="203.0.113.5")
    response = client.post("/newsletter/signup/", {
        "email": "ann@example.com", "news_permissions": ["Email"], "next": "/"})
    assert response.status_code == 302
    drain()
    [put] = writes(account, "ann@example.com")
    assert put["body"]["marketing_permissions"] == [
        {"marketing_permission_id": permission_id(gdpr_list, "Email"), "enabled": True}]
    assert enabled(account, gdpr_list, "ann@example.com") == {"Email"}
    event = ConsentEvent.objects.get()
    assert event.wording == selectors.footer_consent_text()
    assert [(p["text"], p["enabled"]) for p in event.marketing_permissions] == [
        ("Email", True), ("Direct Mail", False), ("Customized Online Advertising", False)]
    sub = Subscription.objects.get()
    assert sub.sent_marketing_permissions == {permission_id(gdpr_list, "Email"): True}
    # The same signup again: nothing new, nothing sent.
    account.clear_requests()
    client.post("/newsletter/signup/", {"email": "ann@example.com",
                                        "news_permissions": ["Email"]})
    drain()
    assert writes(account, "ann@example.com") == []


def test_an_unticked_signup_sends_no_permissions(account, gdpr_list):
    Client().post("/newsletter/signup/", {"email": "bob@example.com"})
    drain()
    [put] = writes(account, "bob@example.com")
    assert "marketing_permissions" not in put["body"]
    assert enabled(account, gdpr_list, "bob@example.com") == set()


def test_a_stranger_never_changes_someone_elses_permissions(account, gdpr_list):
    Client().post("/newsletter/signup/", {"email": "cat@example.com"})
    drain()
    account.clear_requests()
    Client().post("/newsletter/signup/", {"email": "cat@example.com",
                                          "news_permissions": TEXTS})
    drain()
    assert writes(account, "cat@example.com") == []
    assert ConsentEvent.objects.count() == 1


def test_the_person_grants_and_withdraws_on_their_page_without_any_status(account, gdpr_list):
    customer = CustomerFactory(email="dee@example.com")
    client = Client()
    client.force_login(customer)
    email_id = permission_id(gdpr_list, "Email")
    post_id = permission_id(gdpr_list, "Direct Mail")
    field = f"news_permissions_{gdpr_list.pk}"
    client.post("/newsletter/my-lists/", {
        f"news_list_{gdpr_list.pk}": "on", field: [email_id], **shown(gdpr_list)})
    drain()
    assert enabled(account, gdpr_list, "dee@example.com") == {"Email"}
    # The page shows what they hold; ticking one more and unticking the other changes both.
    page = client.get("/newsletter/my-lists/").content.decode()
    assert f'value="{email_id}"' in page and "checked" in page
    account.clear_requests()
    client.post("/newsletter/my-lists/", {
        f"news_list_{gdpr_list.pk}": "on", field: [post_id], **shown(gdpr_list)})
    drain()
    [patch] = writes(account, "dee@example.com")
    assert patch["method"] == "PATCH"
    assert "status" not in patch["body"] and "status_if_new" not in patch["body"]
    assert sorted(patch["body"]["marketing_permissions"], key=lambda p: p["enabled"]) == [
        {"marketing_permission_id": email_id, "enabled": False},
        {"marketing_permission_id": post_id, "enabled": True}]
    assert enabled(account, gdpr_list, "dee@example.com") == {"Direct Mail"}
    actions = list(ConsentEvent.objects.order_by("at", "id").values_list("action", flat=True))
    assert actions == [ConsentEvent.Action.OPT_IN, ConsentEvent.Action.PERMISSIONS]
    sub = Subscription.objects.get()
    assert sub.consent.action == ConsentEvent.Action.OPT_IN and sub.opted_in


def test_ticking_a_permission_at_checkout_means_the_list(account, gdpr_list):
    """Single-checkbox mode: the permissions sit under the one tick; ticking one is a yes."""
    data = QueryDict(mutable=True)
    data.setlist("news_permissions", ["Direct Mail"])
    form = CheckoutLike(data)
    assert form.is_valid(), form.errors
    choice = news_choice_from(form)
    assert choice.use_defaults
    services.subscription_signup(email="eve@example.com", choice=choice,
                                 source=Source.CHECKOUT, ip="203.0.113.8")
    drain()
    assert enabled(account, gdpr_list, "eve@example.com") == {"Direct Mail"}
    assert ConsentEvent.objects.get().wording == selectors.CHECKBOX_TEXT


def test_a_permission_mailchimp_no_longer_has_is_never_sent(account, gdpr_list):
    sub_form = {"email": "fay@example.com", "news_permissions": ["Email"]}
    Client().post("/newsletter/signup/", sub_form)
    # Mailchimp's GDPR set changes before the push goes out: the old id is dropped.
    gdpr_list.marketing_permissions = [{"id": "gone", "text": "Email"}]
    gdpr_list.save()
    drain()
    [put] = writes(account, "fay@example.com")
    assert "marketing_permissions" not in put["body"]
    assert Subscription.objects.get().state == Subscription.State.SUBSCRIBED


def test_each_entry_point_has_its_own_wording_and_lists(account, news_list):
    offers = sandbox_list(account, name="Offers", subscribe_by_default=False)
    services.news_settings_update(
        double_opt_in=False, pushes_paused=False, customers_choose_lists=False,
        wording={"footer": "Yes, send me the weekly letter.", "checkout": ""},
        lists={"checkout": [offers.pk]},
    )
    # The footer: its own words, the default lists; checkout: the default words, Offers only.
    assert selectors.default_audience_ids(source="footer") == [news_list.pk]
    assert selectors.default_audience_ids(source="checkout") == [offers.pk]
    assert selectors.consent_wording("checkout") == selectors.CHECKBOX_TEXT
    Client().post("/newsletter/signup/", {"email": "gus@example.com"})
    event = ConsentEvent.objects.get()
    assert event.wording == "Yes, send me the weekly letter."
    assert event.subscription.audience == news_list
    page = Client().get("/").content.decode()
    assert "Yes, send me the weekly letter." in page
    from subscriptions.forms import NewsChoice

    services.subscription_signup(email="hal@example.com", choice=NewsChoice(use_defaults=True),
                                 source=Source.CHECKOUT)
    assert [s.audience for s in Subscription.objects.filter(email="hal@example.com")] == [offers]


def test_the_settings_page_sets_each_entry_point(account, news_list, admin_client):
    offers = sandbox_list(account, name="Offers", subscribe_by_default=False)
    url = f"/admin/subscriptions/newssettings/{NewsSettings.SINGLETON_ID}/change/"
    page = admin_client.get(url).content.decode()
    for heading in ("Footer signup box", "Registration", "Checkout", "Consent wording"):
        assert heading in page
    assert not NewsSettings.objects.exists()  # a GET writes nothing
    response = admin_client.post(url, {
        "registration_wording": "I'd like the Offers letter.",
        "registration_lists": [offers.pk], "footer_wording": "", "checkout_wording": "",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    row = NewsSettings.objects.get()
    assert row.registration_wording == "I'd like the Offers letter."
    assert list(row.registration_lists.all()) == [offers]
    assert list(row.footer_lists.all()) == []
    assert selectors.default_audience_ids(source="registration") == [offers.pk]


def test_the_lists_page_says_which_permissions_customers_see(account, gdpr_list,
                                                           admin_client):
    page = admin_client.get("/admin/mailchimp_integration/audience/").content.decode()
    assert "GDPR marketing permissions, shown to customers unticked: Email · Direct Mail" in page


def test_a_permission_withdrawn_just_before_leaving_the_list_is_withdrawn_in_mailchimp(
    account, gdpr_list
):
    customer = CustomerFactory(email="leaver@example.com")
    email_id = permission_id(gdpr_list, "Email")

    def shown(ticked):
        return {gdpr_list.pk: [{**p, "enabled": p["text"] in ticked}
                               for p in gdpr_list.marketing_permissions]}

    services.subscription_set_for_customer(user=customer, choices={gdpr_list.pk: []},
                                           source=Source.ACCOUNT, permissions=shown({"Email"}))
    drain()
    assert enabled(account, gdpr_list, "leaver@example.com") == {"Email"}
    # They untick it on their page, then leave the list, before anything was sent.
    services.subscription_set_for_customer(user=customer, choices={gdpr_list.pk: []},
                                           source=Source.ACCOUNT, permissions=shown(set()))
    services.subscription_set_for_customer(user=customer, choices={}, source=Source.ACCOUNT)
    drain()
    got = member(account, gdpr_list, "leaver@example.com")
    assert got["status"] == "unsubscribed"
    assert enabled(account, gdpr_list, "leaver@example.com") == set()
    [last] = writes(account, "leaver@example.com")[-1:]
    assert last["body"]["marketing_permissions"] == [
        {"marketing_permission_id": email_id, "enabled": False}]
