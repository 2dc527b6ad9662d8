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
