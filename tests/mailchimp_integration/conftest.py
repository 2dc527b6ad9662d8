"""Fixtures of the Mailchimp integration's tests: a store connected to the sandbox."""
import pytest

from tests.conftest import point_store_at_sandbox, wait_for

EMPTY_ACCOUNT = {"account_name": "Hilltop Goods test account", "lists": []}


@pytest.fixture
def mailchimp(mailchimp_sandbox):
    """The sandbox (a `SandboxControl`) with an empty account: each test makes what it needs.

    A call still running in the sandbox after its client gave up (a hang) would count against
    the next test's connection limit: wait for it to finish.
    """
    mailchimp_sandbox.load_seed(EMPTY_ACCOUNT)
    yield mailchimp_sandbox
    wait_for(lambda: mailchimp_sandbox.stats()["in_flight"] == 0, timeout=10)


@pytest.fixture
def connected(settings, mailchimp):
    """The store's MAILCHIMP_* settings pointed at the sandbox; short timeouts, fast retries."""
    point_store_at_sandbox(settings, mailchimp)
    settings.MAILCHIMP_RETRY_ATTEMPTS = 4
    settings.MAILCHIMP_RETRY_MAX_WAIT = 2
    return mailchimp

