"""`manage.py mailchimp_sandbox`: serve the local Mailchimp sandbox until stopped."""
import signal
import sys

from django.core.management.base import BaseCommand

from mailchimp_integration.sandbox.seed import load_seed
from mailchimp_integration.sandbox.server import DEFAULT_API_KEY, Sandbox, SandboxServer


def stop_on_sigterm(signum, frame):
    # Turn SIGTERM into the same clean exit as Ctrl-C, so the state file gets its last save.
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Serve a local Mailchimp Marketing API 3.0 at http://HOST:PORT/3.0."
    # The sandbox needs no database and no other app; skip checks so it starts even when
    # another app is mid-change.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8100, help="0 picks a free port")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--api-key", default=DEFAULT_API_KEY,
                            help="the key it accepts, e.g. abc123-us6")
        parser.add_argument("--seed", help="a seed JSON file (default: the demo account)")
        parser.add_argument("--state", help="persist the account to this JSON file")

    def handle(self, *args, **options):
        seed = load_seed(options["seed"]) if options["seed"] else None
        sandbox = Sandbox(seed=seed, api_key=options["api_key"], state_path=options["state"])
        server = SandboxServer(sandbox, host=options["host"], port=options["port"])
        self.stdout.write(f"Mailchimp sandbox at {server.url} (api key {sandbox.api_key}; "
                          f"control API at {sandbox.base_url}/_sandbox/)")
        sys.stdout.flush()
        signal.signal(signal.SIGTERM, stop_on_sigterm)
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            if sandbox.state_file:
                sandbox.state_file.save()
