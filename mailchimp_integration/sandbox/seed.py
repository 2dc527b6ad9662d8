"""Seed data: the demo account ("Hilltop Goods") and seed files given with --seed."""
from __future__ import annotations

import json
from pathlib import Path

DEMO_SEED_PATH = Path(__file__).with_name("demo_seed.json")


def load_seed(path: str | Path | None = None) -> dict:
    """A seed file's content: {account_name, lists: [{id?, name, member_count?, categories:
    [{id?, title, type?, interests: [{id?, name, subscriber_count?}]}], members: [...]}]}.

    A member is a PUT body (email_address, status?, merge_fields?, interests?, timestamp_opt?,
    ip_opt?, …; subscribed unless it says) plus an optional `last_changed`."""
    with open(path or DEMO_SEED_PATH) as handle:
        return json.load(handle)


def demo_seed() -> dict:
    return load_seed(DEMO_SEED_PATH)
