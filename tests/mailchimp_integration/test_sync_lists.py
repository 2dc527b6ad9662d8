"""`manage.py sync_lists`: a summary line, a bar on terminals, exit 1 with one clear line."""
import io
import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from mailchimp_integration.management.commands.sync_lists import ProgressBar
from mailchimp_integration.models import Audience, SyncRun
from tests.conftest import BASE_DIR, database_url_for_test_db

from .test_services import seed

pytestmark = pytest.mark.django_db


def test_prints_one_summary_line(connected):
    seed(connected, lists=2, categories=1, groups=2)
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_lists", stdout=out, stderr=err)
    assert out.getvalue() == (
        "Synced 2 audiences, 2 categories, 4 groups: 8 created, 0 updated, 0 removed.\n"
    )
    assert err.getvalue() == ""  # no bar when stderr is not a terminal
    assert SyncRun.objects.get().trigger == SyncRun.Trigger.COMMAND

    connected.rename_list(Audience.objects.first().mailchimp_id, "Renamed")
    out = io.StringIO()
    call_command("sync_lists", stdout=out)
    assert out.getvalue().endswith("0 created, 1 updated, 0 removed.\n")


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_the_progress_bar_is_drawn_on_a_terminal_only():
    terminal = FakeTerminal()
    bar = ProgressBar(terminal)
    bar(3, 12)
    bar(12, 12)
    bar.close()
    assert terminal.getvalue().startswith("\rSyncing Mailchimp lists [#######")
    assert "12/12 calls" in terminal.getvalue()
    piped = io.StringIO()
    ProgressBar(piped)(3, 12)
    assert piped.getvalue() == ""


def run_command(mailchimp_url: str, api_key: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "tests.settings"),
        "DATABASE_URL": database_url_for_test_db(),
        "MAILCHIMP_API_URL": mailchimp_url,
        "MAILCHIMP_API_KEY": api_key,
        "MAILCHIMP_RETRY_ATTEMPTS": "2",
        "MAILCHIMP_RETRY_MAX_WAIT": "1",
        "MAILCHIMP_CONNECT_TIMEOUT": "1",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "sync_lists"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.django_db(transaction=True)
def test_a_bad_key_exits_1_with_one_clear_line(mailchimp_sandbox):
    result = run_command(mailchimp_sandbox.url, "0000000000wrongkey-us6")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sync_lists: Mailchimp rejected the API key (401 ")


@pytest.mark.django_db(transaction=True)
def test_mailchimp_unreachable_exits_1_with_one_clear_line():
    result = run_command("http://127.0.0.1:9/3.0", "0123456789abcdef-us6")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == (
        "sync_lists: Mailchimp is unreachable (Connection failed: 127.0.0.1:9: Connection refused)"
    )
