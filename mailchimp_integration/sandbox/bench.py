"""For benches: the sandbox in its own process (the management command), so it has its own GIL."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .control import SandboxControl
from .server import DEFAULT_API_KEY

BASE_DIR = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30


class SandboxProcess(SandboxControl):
    """A control handle that also owns the sandbox process; `.stop()` ends it."""

    def __init__(self, url: str, api_key: str, process: subprocess.Popen):
        super().__init__(url, api_key)
        self.process = process

    def stop(self) -> None:
        self.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_sandbox(*, api_key: str = DEFAULT_API_KEY, seed: str | None = None) -> SandboxProcess:
    """`manage.py mailchimp_sandbox --port 0` in a child process, once it is serving."""
    command = [sys.executable, "manage.py", "mailchimp_sandbox", "--port", "0",
               "--api-key", api_key]
    if seed:
        command += ["--seed", seed]
    process = subprocess.Popen(command, cwd=BASE_DIR, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + STARTUP_TIMEOUT
    output = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        match = re.search(r"at (http://\S+/3\.0)", line)
        if match:
            # Nothing reads stdout from now on; the command prints nothing more.
            return SandboxProcess(match.group(1), api_key, process)
    process.kill()
    raise RuntimeError("the sandbox did not start:\n" + "".join(output))


@contextmanager
def bench_environment(*, read_timeout: float = 30):
    """For a bench script, after django.setup(): a test database made (and dropped at the
    end), the sandbox in its own process, and the store's settings pointed at it."""
    from django.conf import settings
    from django.test.runner import DiscoverRunner
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    settings.DEBUG = False
    runner = DiscoverRunner(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    sandbox = start_sandbox()
    try:
        settings.MAILCHIMP_API_URL = sandbox.url
        settings.MAILCHIMP_API_KEY = sandbox.api_key
        settings.MAILCHIMP_READ_TIMEOUT = read_timeout
        yield sandbox
    finally:
        sandbox.stop()
        runner.teardown_databases(old_config)
        teardown_test_environment()
