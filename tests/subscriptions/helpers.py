"""Helpers of the subscriptions' tests: read the sandbox over HTTP, drive the outbox in-process."""
import hashlib

import requests
from django.db.models import F
from django.utils import timezone

from subscriptions import delivery
from subscriptions.models import Push, Subscription


def api(sandbox, method, path, **kwargs):
    return requests.request(method, sandbox.url + path, auth=("x", sandbox.api_key),
                            timeout=10, **kwargs)


def member_hash(email):
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def member(sandbox, audience, email):
    """The member as the API shows it, or None."""
    response = api(sandbox, "GET", f"/lists/{audience.mailchimp_id}/members/{member_hash(email)}")
    return response.json() if response.status_code == 200 else None


def in_mailchimp(sandbox, audience, email, *, tag: str, timeout: float = 20) -> dict:
    """Wait until the worker has pushed the member and tagged it with its source."""
    from tests.conftest import wait_for

    def tagged():
        found = member(sandbox, audience, email)
        return found if found and tag in [t["name"] for t in found["tags"]] else None

    return wait_for(tagged, timeout=timeout, message=f"{email} did not reach Mailchimp ({tag})")


def members(sandbox, audience) -> list[dict]:
    response = api(sandbox, "GET", f"/lists/{audience.mailchimp_id}/members",
                   params={"count": 1000})
    return response.json()["members"]


def forget(sandbox, audience, email):
    """Mailchimp's permanent delete (GDPR): the address can never be re-imported by API."""
    path = f"/lists/{audience.mailchimp_id}/members/{member_hash(email)}/actions/delete-permanent"
    api(sandbox, "POST", path).raise_for_status()


def add_fault(sandbox, kind, **spec):
    return sandbox.add_fault(kind, **spec)


def clear_faults(sandbox):
    sandbox.clear_faults()


def requests_log(sandbox) -> list[dict]:
    return sandbox.request_log()


def shown(*audiences) -> dict:
    """The lists a customer's page showed (posted back with its form): only those are decided."""
    return {"news_lists_shown": [audience.pk for audience in audiences]}


def drain(*, rounds: int = 3) -> list[Push]:
    """Send every due subscription in-process, one by one, as the worker would (claim, build,
    send, record); retries that became due are sent too (up to `rounds` passes).
    Returns the attempts made, oldest first."""
    started = timezone.now()
    for _ in range(rounds):
        due = list(
            Subscription.objects.filter(
                wanted_version__gt=F("sent_version"), claim_token="", failed_permanently=False,
                next_attempt_at__lte=timezone.now(),
            ).values_list("pk", flat=True)
        )
        if not due:
            break
        client = delivery.mailchimp_client_build()
        for subscription_id in due:
            taken = delivery.claim(subscription_id=subscription_id)
            if taken is not None:
                delivery.deliver_claimed(taken, client=client)
    return list(Push.objects.filter(created_at__gte=started).order_by("pk"))


def signed_up(email="ann@example.com", **kw) -> Subscription:
    """A footer signup with its consent, pushed (the subscription as Mailchimp confirmed it)."""
    from subscriptions import selectors, services
    from subscriptions.models import Source

    services.subscription_subscribe(email=email, use_defaults=True, source=Source.FOOTER,
                                    ip="203.0.113.7",
                                    consent_text=selectors.footer_consent_text(), **kw)
    drain()
    return Subscription.objects.get(email=email)


def browser_staff_signed_in(page, live_server, email: str, password: str) -> None:
    """In the browser: signed in to the back office."""
    page.goto(live_server.url + "/admin/login/")
    page.locator('[name="username"]').fill(email)
    page.locator('[name="password"]').fill(password)
    page.get_by_role("button", name="Log in").click()


def browser_customer_signed_in(page, live_server, email: str, password: str) -> None:
    """In the browser: signed in to the store as a customer."""
    from playwright.sync_api import expect

    page.goto(live_server.url + "/accounts/sign-in/")
    form = page.locator("form.stacked")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("You're signed in.")).to_be_visible()


def checkout_form_open(page, live_server):
    """In the browser: one item in the cart, the checkout form filled in where still empty
    (a signed-in customer's details are there already). Returns the form."""
    from tests.shop.catalogue.factories import VariantFactory

    variant = VariantFactory(stock=5)
    page.goto(live_server.url + variant.product.get_absolute_url())
    page.locator("form.add-to-cart").get_by_role("button", name="Add to cart").click()
    page.goto(live_server.url + "/checkout/")
    form = page.locator("form.checkout-form")
    for name, value in [("first_name", "Bea"), ("last_name", "Buyer"),
                        ("email", "buyer@example.com"), ("address_line1", "1 High St"),
                        ("city", "Town"), ("postcode", "AB1 2CD"), ("country", "UK")]:
        field = form.locator(f'[name="{name}"]')
        if not field.input_value():
            field.fill(value)
    return form
