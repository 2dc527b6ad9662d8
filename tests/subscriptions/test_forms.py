"""The rules the newsletter forms enforce on the server, whatever the browser sent."""
import pytest
from django import forms
from django.http import QueryDict
from django.utils import timezone

from subscriptions.forms import (
    CustomerListsForm,
    news_asked,
    news_choice_from,
    news_fields_add,
)
from subscriptions.models import NewsSettings, Source, Subscription
from tests.mailchimp_integration.factories import (
    AudienceFactory,
    InterestCategoryFactory,
    InterestFactory,
)

from .factories import CustomerFactory, groups_field

pytestmark = pytest.mark.django_db


def a_list(name="Newsletter", *, default=True, active=True):
    return AudienceFactory(name=name, active=active, subscribe_by_default=default)


def groups(audience, category_type, *names, defaults=(), category="Topics"):
    category = InterestCategoryFactory(audience=audience, name=category, type=category_type)
    return [InterestFactory(category=category, name=name, active=True,
                            subscribe_by_default=name in defaults) for name in names]


class OptInForm(forms.Form):
    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        news_fields_add(self, user=user)


def post(**data) -> QueryDict:
    query = QueryDict(mutable=True)
    for name, value in data.items():
        query.setlist(name, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    return query


def choose_lists():
    NewsSettings.objects.create(pk=1, customers_choose_lists=True)


def account_form(customer, data=None, **kwargs):
    """The form, bound to `data` as the page would post it (with the lists it showed)."""
    subscriptions = list(Subscription.objects.filter(email=customer.email))
    if data is not None and "news_lists_shown" not in data:
        page = CustomerListsForm(subscriptions=subscriptions, **kwargs)
        data = data.copy()  # a QueryDict, as a request's POST
        data.setlist("news_lists_shown", [str(row.audience.pk) for row in page.audience_rows])
    return CustomerListsForm(data, subscriptions=subscriptions, **kwargs)


def subscribe(customer, audience, *interests, state=Subscription.State.SUBSCRIBED, **extra):
    subscription = Subscription.objects.create(
        email=customer.email, audience=audience, user=customer, source=Source.FOOTER,
        state=state, **extra,
    )
    subscription.interests.set(interests)
    return subscription


# 1. The opt-in only where it can do something.

@pytest.mark.parametrize("lists", [
    [],
    [{"default": False}],  # offered, not by default
    [{"active": False}],  # default, but switched off
])
def test_no_checkbox_while_no_default_list_is_offered(lists):
    for spec in lists:
        a_list(**spec)
    assert "news_opt_in" not in OptInForm().fields


def test_the_checkbox_while_a_default_list_is_offered():
    a_list()
    assert "news_opt_in" in OptInForm().fields


def test_no_lists_to_choose_while_none_is_offered():
    choose_lists()
    a_list(active=False)
    removed = a_list("Gone")
    removed.removed_at = timezone.now()
    removed.save()
    assert OptInForm().fields == {}


def test_a_consent_for_a_list_that_closed_is_still_seen():
    assert news_asked(post(news_opt_in="on"))
    assert news_asked(post(news_list_7="on"))
    assert not news_asked(post(news_groups_7_1=["3"], email="a@example.com"))


# 4. Group types.

def test_radio_and_dropdown_take_one_answer_at_most():
    choose_lists()
    audience = a_list()
    weekly, monthly = groups(audience, "radio", "Weekly", "Monthly", category="How often")
    north, south = groups(audience, "dropdown", "North", "South", category="Where")
    form = OptInForm(post(**{
        f"news_list_{audience.pk}": "on",
        groups_field(weekly): [weekly.pk, monthly.pk],
        groups_field(north): [north.pk, south.pk],
    }))
    assert not form.is_valid()
    assert form.errors[groups_field(weekly)] == ["Please choose only one option under “How often”."]
    assert form.errors[groups_field(north)] == ["Please choose only one option under “Where”."]
    form = OptInForm(post(**{f"news_list_{audience.pk}": "on", groups_field(weekly): monthly.pk,
                             groups_field(north): south.pk}))
    assert form.is_valid(), form.errors
    assert sorted(news_choice_from(form).interest_ids) == sorted([monthly.pk, south.pk])


def test_checkboxes_take_several_answers():
    choose_lists()
    audience = a_list()
    offers, recipes = groups(audience, "checkboxes", "Offers", "Recipes")
    form = OptInForm(post(**{f"news_list_{audience.pk}": "on",
                             groups_field(offers): [offers.pk, recipes.pk]}))
    assert form.is_valid()
    assert news_choice_from(form).interest_ids == [offers.pk, recipes.pk]


def test_a_hidden_group_is_never_shown_nor_taken_from_a_customer():
    choose_lists()
    audience = a_list()
    (offers,) = groups(audience, "checkboxes", "Offers")
    (vip,) = groups(audience, "hidden", "VIP", category="Staff only")
    (tagged,) = groups(audience, "hidden", "Came from the shop", defaults=("Came from the shop",),
                       category="Source")
    form = OptInForm()
    assert groups_field(vip) not in form.fields
    assert "VIP" not in form.as_div() and "Staff only" not in form.as_div()
    # Posted under a visible category, or under its own name: refused, or not read at all.
    form = OptInForm(post(**{f"news_list_{audience.pk}": "on", groups_field(offers): [vip.pk]}))
    assert not form.is_valid()
    assert form.errors[groups_field(offers)] == ["Please choose from the options shown."]
    form = OptInForm(post(**{f"news_list_{audience.pk}": "on", groups_field(vip): [vip.pk]}))
    assert form.is_valid()
    # The store's own hidden default still applies to a new member.
    assert news_choice_from(form).interest_ids == [tagged.pk]


def test_staff_see_and_set_hidden_groups():
    audience = a_list()
    (vip,) = groups(audience, "hidden", "VIP", category="Staff only")
    customer = CustomerFactory()
    form = account_form(customer, post(**{f"news_list_{audience.pk}": "1",
                                          groups_field(vip): [vip.pk]}), staff=True)
    assert form.is_valid(), form.errors
    assert form.choices() == {audience.pk: [vip.pk]}


def test_a_customer_saving_their_lists_keeps_the_hidden_groups_the_store_set():
    audience = a_list()
    (offers,) = groups(audience, "checkboxes", "Offers")
    (vip,) = groups(audience, "hidden", "VIP", category="Staff only")
    customer = CustomerFactory()
    subscribe(customer, audience, vip)
    form = account_form(customer, post(**{f"news_list_{audience.pk}": "on",
                                          groups_field(offers): [offers.pk]}))
    assert form.is_valid()
    assert form.choices() == {audience.pk: [offers.pk, vip.pk]}


# 5. Choosing lists: a group means its list; nothing is pre-ticked for someone not on it.

def test_a_group_chosen_implies_its_list():
    choose_lists()
    audience, other = a_list(), a_list("Events", default=False)
    (recipes,) = groups(audience, "checkboxes", "Recipes")
    form = OptInForm(post(**{groups_field(recipes): [recipes.pk]}))
    assert form.is_valid()
    choice = news_choice_from(form)
    assert choice.audience_ids == [audience.pk] and choice.interest_ids == [recipes.pk]
    assert other.pk not in choice.audience_ids


def test_defaults_are_marked_for_the_script_but_not_ticked():
    choose_lists()
    audience = a_list()
    groups(audience, "checkboxes", "Offers", "Recipes", defaults=("Offers",))
    html = OptInForm().as_div()
    assert "data-news-default" in html and "checked" not in html
    assert not news_choice_from(_valid(OptInForm(post()))).any


def _valid(form):
    assert form.is_valid(), form.errors
    return form


def test_a_signed_in_customer_sees_their_own_lists_and_groups():
    choose_lists()
    newsletter, events = a_list(), a_list("Events", default=False)
    _, recipes = groups(newsletter, "checkboxes", "Offers", "Recipes", defaults=("Offers",))
    customer = CustomerFactory()
    subscribe(customer, newsletter, recipes)
    subscribe(customer, events, opted_in=False, state=Subscription.State.UNSUBSCRIBED)
    form = OptInForm(user=customer)
    assert form[f"news_list_{newsletter.pk}"].initial is True
    assert form[f"news_list_{events.pk}"].initial is False
    assert form[groups_field(recipes)].initial == [recipes.pk]


def test_on_the_account_page_unticking_a_list_leaves_it_whatever_its_groups_say():
    audience = a_list()
    (recipes,) = groups(audience, "checkboxes", "Recipes")
    customer = CustomerFactory()
    subscribe(customer, audience, recipes)
    form = _valid(account_form(customer, post(**{groups_field(recipes): [recipes.pk]})))
    assert form.choices() == {}


# 3. A list the store switched off can be left, not joined.

def test_a_switched_off_list_shows_while_the_customer_is_on_it_and_can_be_left():
    old = a_list("Old news", active=False)
    (topic,) = groups(old, "checkboxes", "Topic")
    customer = CustomerFactory()
    subscribe(customer, old, topic)
    form = account_form(customer)
    (row,) = form.audience_rows
    assert row.leave_only and row.bound.initial is True and not row.questions
    assert "no longer open to new subscribers" in row.note
    kept = _valid(account_form(customer, post(**{f"news_list_{old.pk}": "on"})))
    assert kept.choices() == {old.pk: [topic.pk]}  # kept as it is
    left = _valid(account_form(customer, post()))
    assert left.choices() == {}  # absent: left


def test_a_switched_off_list_the_customer_is_not_on_does_not_show():
    old = a_list("Old news", active=False)
    customer = CustomerFactory()
    subscribe(customer, old, opted_in=False, state=Subscription.State.UNSUBSCRIBED)
    assert account_form(customer).audience_rows == []
    assert account_form(customer, staff=True).disabled_subscriptions != []


# 7. A list that is gone is not shown to the customer; staff see why.

def test_a_list_that_is_gone_shows_to_staff_only():
    gone = a_list("Gone")
    gone.removed_at = timezone.now()
    gone.save()
    customer = CustomerFactory()
    subscribe(customer, gone)
    customer_form = account_form(customer)
    assert [row.audience.name for row in customer_form.audience_rows] == []
    assert customer_form.disabled_subscriptions == []
    staff_form = account_form(customer, staff=True)
    assert [s.audience.name for s in staff_form.disabled_subscriptions] == ["Gone"]


# 6. Pending says what the customer has to do.

def test_a_pending_subscription_is_waiting_for_the_customers_confirmation():
    audience = a_list()
    customer = CustomerFactory()
    subscribe(customer, audience, state=Subscription.State.PENDING)
    (row,) = account_form(customer).audience_rows
    assert row.note.startswith("Waiting for your confirmation")
