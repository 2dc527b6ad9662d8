"""What `reconcile_members` and `import_members` share: the audiences, the run, the report."""
import sys

from mailchimp_integration.exceptions import MailchimpNotConfigured
from mailchimp_integration.management.commands.sync_lists import ProgressBar
from mailchimp_integration.models import Audience
from mailchimp_integration.services import mailchimp_client_build
from subscriptions import inbound
from subscriptions.models import MemberSyncRun


def fail(command, message: str) -> None:
    """One clear line on stderr and status 1 (CommandError would prefix "CommandError: ")."""
    command.stderr.write(f"{command.name}: {message}")
    sys.exit(1)


def audiences(command, audience_id: str | None) -> list[Audience]:
    if audience_id:
        found = list(Audience.objects.filter(mailchimp_id=audience_id, removed_at__isnull=True))
        if not found:
            fail(command, f"no Mailchimp list with the id {audience_id!r} is known to the store "
                          "(run sync_lists first?)")
        return found
    return inbound.audiences_to_reconcile()


def report(run: MemberSyncRun) -> str:
    counts = ", ".join(f"{kind}: {n}" for kind, n in sorted(run.counts.items())) or "none"
    lines = [f"{run.audience.name} ({run.audience.mailchimp_id}): {run.progress_done} members "
             f"read in {run.api_calls} calls, {run.drift} differed"
             f"{' (dry run: nothing changed)' if run.dry_run else ''}. By kind: {counts}."]
    for kind, emails in sorted(run.examples.items()):
        if kind != "unchanged":
            lines.append(f"  {kind}, e.g.: {', '.join(emails)}")
    return "\n".join(lines)


def execute(command, *, kind: str, audience_id: str | None, full: bool = False,
            dry_run: bool = False) -> None:
    chosen = audiences(command, audience_id)
    try:
        client = mailchimp_client_build()
    except MailchimpNotConfigured as error:
        fail(command, error.reason)
    for audience in chosen:
        run = inbound.run_create(audience=audience, kind=kind, full=full, dry_run=dry_run)
        bar = ProgressBar(sys.stderr, label=f"Reading {audience.name}", unit="members")
        try:
            run = inbound.run_execute(run=run, client=client, progress=bar)
        finally:
            bar.close()
        if run.state != MemberSyncRun.State.SUCCEEDED:
            fail(command, f"{audience.name}: Mailchimp could not be read: {run.error}")
        command.stdout.write(report(run))
