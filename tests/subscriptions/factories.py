"""Factories of the subscriptions' tests: customers, and lists that exist in the sandbox too."""
import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from mailchimp_integration.models import Audience, Interest, InterestCategory

PASSWORD = "correct-horse-battery-staple"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    first_name = "Ann"
    last_name = "Lee"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def sandbox_list(account, *, name="Newsletter", groups=("Offers", "Recipes"),
                 default_groups=("Offers",), active=True, subscribe_by_default=True):
    """A list with one category of groups, in the sandbox (`account`: its control client)
    and in the store's database."""
    list_id = account.create_list(name)
    category_id = account.create_category(list_id, "Topics")
    now = timezone.now()
    audience = Audience.objects.create(
        mailchimp_id=list_id, name=name, last_seen_at=now, active=active,
        subscribe_by_default=subscribe_by_default,
    )
    category = InterestCategory.objects.create(
        audience=audience, mailchimp_id=category_id, name="Topics", last_seen_at=now
    )
    for group in groups:
        interest_id = account.create_interest(list_id, category_id, group)
        Interest.objects.create(
            audience=audience, category=category, mailchimp_id=interest_id, name=group,
            last_seen_at=now, active=True, subscribe_by_default=group in default_groups,
        )
    return audience


def interest(audience, name):
    return Interest.objects.get(audience=audience, name=name)


def groups_field(group) -> str:
    """The form field of a group's category (news_groups_<list>_<category>)."""
    return f"news_groups_{group.audience_id}_{group.category_id}"
