"""Fixtures of the subscriptions' tests: the store connected to the sandbox."""
import pytest

from tests.conftest import point_store_at_sandbox

from .factories import sandbox_list


@pytest.fixture
def connected(settings, mailchimp_sandbox):
    """MAILCHIMP_* settings pointed at a fresh sandbox account; fast retries; no rate limit."""
    point_store_at_sandbox(settings, mailchimp_sandbox)
    settings.SUBSCRIPTIONS_RETRY_BASE_SECONDS = 0.05
    settings.SUBSCRIPTIONS_RETRY_MAX_SECONDS = 0.2
    settings.SUBSCRIPTIONS_FOOTER_RATE_LIMIT = 1000
    return mailchimp_sandbox


@pytest.fixture
def account(connected):
    """The sandbox's control client (lists, what people do, faults, the request log)."""
    return connected


@pytest.fixture
def news_list(db, account):
    """An active, subscribe-by-default list with groups Offers (default) and Recipes."""
    return sandbox_list(account)


@pytest.fixture
def broker_off():
    """Tasks sent go nowhere (tests drive the push services themselves)."""
    from unittest import mock

    with mock.patch("celery.app.task.Task.apply_async") as sent:
        yield sent



def pytest_terminal_summary(terminalreporter):
    """How many random sequences and steps the consent invariants ran (test_invariants.py)."""
    import sys

    module = sys.modules.get("tests.subscriptions.test_invariants")
    runs = getattr(module, "RUNS", None)
    if runs:
        terminalreporter.write_line(
            f"consent invariants: {runs['sequences']} sequences, {runs['steps']} steps"
        )
