"""Bench: requests/s of `PUT /lists/{id}/members/{hash}` against the sandbox, 10 clients at once.

The sandbox runs in its own process (`manage.py mailchimp_sandbox`), so the clients do not
share its GIL; each client thread has its own requests.Session (keep-alive), as the store does.

    .venv/bin/python bench/sandbox_put_member.py [--clients 10] [--seconds 5]
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailchimp_integration.sandbox.bench import start_sandbox  # noqa: E402

NEWSLETTER = "a1b2c3d4e5"  # the demo seed's first audience
INTEREST = "1a2b3c4d01"


def client_loop(url: str, api_key: str, client: int, stop_at: float, results: list) -> None:
    session = requests.Session()
    session.auth = ("bench", api_key)
    done = errors = 0
    while time.perf_counter() < stop_at:
        # A few hundred distinct members per client: creates first, then updates.
        email = f"bench{client}-{done % 500}@example.com"
        member_hash = hashlib.md5(email.encode()).hexdigest()
        response = session.put(f"{url}/lists/{NEWSLETTER}/members/{member_hash}", timeout=10,
                               json={"email_address": email, "status_if_new": "subscribed",
                                     "merge_fields": {"FNAME": "Bench", "LNAME": str(client)},
                                     "interests": {INTEREST: done % 2 == 0}})
        done += 1
        errors += response.status_code != 200
    results.append((done, errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    sandbox = start_sandbox()
    try:
        requests.get(sandbox.url + "/ping", auth=("bench", sandbox.api_key), timeout=5)
        sandbox.reset_stats()
        results: list[tuple[int, int]] = []
        started = time.perf_counter()
        stop_at = started + args.seconds
        threads = [threading.Thread(target=client_loop,
                                    args=(sandbox.url, sandbox.api_key, n, stop_at, results))
                   for n in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        stats = sandbox.stats()
    finally:
        sandbox.stop()
    total = sum(done for done, _ in results)
    errors = sum(failed for _, failed in results)
    print(f"PUT member: {total / elapsed:.0f} requests/s "
          f"({total} requests, {args.clients} clients, {elapsed:.1f} s, {errors} non-200; "
          f"peak in flight {stats['peak_in_flight']}, refused {stats['refused']})")


if __name__ == "__main__":
    main()
