"""Signals the Mailchimp integration sends; receivers live in the apps that listen.

Both are sent after the sync's transaction commits, once per sync, with the primary keys of
what that sync newly found deleted in Mailchimp. The subscriptions app annuls the matching
subscriptions (keeping them, shown as disabled) in its own receivers.
"""
from django.dispatch import Signal

# sender=Audience, audience_ids=list[int]: audiences deleted in Mailchimp (their categories
# and groups are reported through `interest_removed` too).
audience_removed = Signal()

# sender=Interest, interest_ids=list[int]: groups deleted in Mailchimp, or whose category or
# audience was.
interest_removed = Signal()

# sender=WebhookEvent, event_id=int: a webhook event was stored (sent once its transaction
# commits); the subscriptions app queues the task that applies it.
webhook_event_received = Signal()
