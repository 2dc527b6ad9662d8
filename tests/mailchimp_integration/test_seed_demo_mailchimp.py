"""`seed_demo_mailchimp`: the demo store offers one audience at once, and never overrides."""
import pytest
from django.core.management import CommandError, call_command

from mailchimp_integration.models import Audience
from tests.conftest import point_store_at_sandbox

pytestmark = pytest.mark.django_db


def test_imports_the_lists_and_offers_the_first_audience(settings, mailchimp_sandbox, capsys):
    point_store_at_sandbox(settings, mailchimp_sandbox)
    call_command("seed_demo_mailchimp")
    offered = Audience.objects.get(active=True)
    assert offered.subscribe_by_default
    assert offered.interests.exists()
    assert not offered.interests.filter(active=False).exists()
    assert Audience.objects.count() == 3
    assert f"“{offered.name}” is offered by default" in capsys.readouterr().out


def test_a_re_run_keeps_what_the_admin_chose(settings, mailchimp_sandbox, capsys):
    point_store_at_sandbox(settings, mailchimp_sandbox)
    call_command("seed_demo_mailchimp")
    first = Audience.objects.get(active=True)
    Audience.objects.filter(pk=first.pk).update(active=False)
    last = Audience.objects.order_by("pk").last()
    Audience.objects.filter(pk=last.pk).update(active=True)
    call_command("seed_demo_mailchimp")
    assert list(Audience.objects.filter(active=True)) == [last]
    assert "the store's choices were kept" in capsys.readouterr().out


def test_an_unreachable_mailchimp_is_one_clear_error(settings):
    settings.MAILCHIMP_API_URL = "http://127.0.0.1:9/3.0"
    settings.MAILCHIMP_API_KEY = "abc-us6"
    settings.MAILCHIMP_RETRY_ATTEMPTS = 1
    with pytest.raises(CommandError, match="seed_demo_mailchimp: .*"):
        call_command("seed_demo_mailchimp")


def test_the_import_is_recorded_for_the_admin_pages(settings, mailchimp_sandbox):
    from mailchimp_integration.models import SyncRun

    point_store_at_sandbox(settings, mailchimp_sandbox)
    call_command("seed_demo_mailchimp")
    run = SyncRun.objects.get()
    assert run.state == SyncRun.State.SUCCEEDED and run.trigger == SyncRun.Trigger.COMMAND
