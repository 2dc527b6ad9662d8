"""The "Update Mailchimp Lists" button, end to end: the sync runs in a real Celery worker."""
import pytest
from django.test import Client
from django.urls import reverse

from mailchimp_integration.models import Audience, Interest, SyncRun
from tests.conftest import wait_for

from .factories import SETTINGS_MANAGER_PERMISSIONS, staff_user
from .test_services import seed

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_the_button_queues_a_sync_that_a_worker_runs_and_the_page_can_follow(
    connected, celery_worker_process
):
    seed(connected, lists=3, categories=2, groups=2)
    client = Client()
    client.force_login(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))

    response = client.post(
        reverse("admin:mailchimp_integration_mailchimpconnection_sync"),
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 202  # answered at once: the request does not sync
    status_url = response.json()["status_url"]

    def finished():
        run = client.get(status_url).json()["run"]
        return run if run["finished"] else None

    run = wait_for(finished, timeout=60, message="the worker did not finish the sync")
    assert run["state"] == "succeeded", run
    assert run["summary"] == (
        "Synced 3 audiences, 6 categories, 12 groups: 21 created, 0 updated, 0 removed."
    )
    assert Audience.objects.count() == 3 and Interest.objects.count() == 12
    assert SyncRun.objects.get().trigger == SyncRun.Trigger.BUTTON
