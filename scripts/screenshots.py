"""Screenshots of the pages a customer and a store admin see, in headless Chromium.

    .venv/bin/python scripts/screenshots.py OUTDIR                 # starts its own store
    .venv/bin/python scripts/screenshots.py OUTDIR --url http://127.0.0.1:8000   # a `make run`

Without --url it starts `scripts/run_dev.py` (web, worker, beat, the Mailchimp sandbox) on
free ports with SQLite and a folder broker in a temporary folder, and stops it at the end.
It registers a customer who ticks the newsletter box, puts a product in the cart, then writes
one full-page PNG per page at 1280×800 into OUTDIR.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}
ADMIN_EMAIL = os.environ.get("DEMO_ADMIN_EMAIL", "admin@example.com")
ADMIN_PASSWORD = os.environ.get("DEMO_ADMIN_PASSWORD", "admin-demo-123")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 90) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - our own local store
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"screenshots: {url} did not answer within {timeout:.0f} s")


@contextmanager
def own_store():
    """A store of its own, as `make run` starts it, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="screenshots-") as var:
        port = free_port()
        env = {
            **os.environ,
            "SHOP_VAR_DIR": var,
            "DATABASE_URL": f"sqlite:///{var}/db.sqlite3",
            "REDIS_URL": "",
            "CACHE_URL": "",
            "MAILCHIMP_API_KEY": "",
            "PORT": str(port),
            "SANDBOX_PORT": str(free_port()),
            "HOST": "127.0.0.1",
        }
        for command in (["migrate", "--noinput", "-v", "0"], ["seed_demo"]):
            subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL)
        process = subprocess.Popen([PYTHON, "scripts/run_dev.py"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_http(url + "/")
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def take(page, out: Path, name: str, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"  {path}")


def shoot(base: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    email = f"screenshots-{uuid.uuid4().hex[:6]}@example.com"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        customer = browser.new_page(viewport=VIEWPORT)
        take(customer, out, "01-store-home", base + "/")
        # A new customer who ticks the newsletter box, with a product in the cart.
        customer.goto(base + "/accounts/register/")
        customer.fill("input[name=email]", email)
        customer.fill("input[name=first_name]", "Robin")
        customer.fill("input[name=last_name]", "Hill")
        customer.fill("input[name=password1]", "a-long-unusual-pass-42")
        customer.fill("input[name=password2]", "a-long-unusual-pass-42")
        opt_in = customer.locator("input[type=checkbox][name^=news]").first
        if opt_in.count():
            opt_in.check()
        customer.get_by_role("button", name="Create account").click()
        customer.wait_for_load_state("networkidle")
        customer.goto(base + "/")
        customer.locator("a[href*='/products/']").first.click()
        customer.get_by_role("button", name="Add to cart").click()
        customer.wait_for_load_state("networkidle")
        take(customer, out, "02-checkout", base + "/checkout/")
        time.sleep(3)  # the worker sends the signup to Mailchimp
        take(customer, out, "03-account-lists", base + "/newsletter/my-lists/")

        admin = browser.new_page(viewport=VIEWPORT)
        admin.goto(base + "/admin/login/")
        admin.fill("#id_username", ADMIN_EMAIL)
        admin.fill("#id_password", ADMIN_PASSWORD)
        admin.locator("input[type=submit]").click()
        admin.wait_for_load_state("networkidle")
        take(admin, out, "04-admin-index", base + "/admin/")
        take(admin, out, "05-admin-lists", base + "/admin/mailchimp_integration/audience/")
        admin.goto(base + f"/admin/accounts/user/?q={email}")
        admin.get_by_role("link", name=email).click()
        admin.get_by_role("link", name="Mailchimp news lists").first.click()
        admin.wait_for_load_state("networkidle")
        take(admin, out, "06-admin-customer-mailchimp-tab", admin.url)
        take(admin, out, "07-admin-sync-log", base + "/admin/subscriptions/push/")
        take(admin, out, "08-admin-subscriptions", base + "/admin/subscriptions/subscription/")
        take(admin, out, "09-admin-integration",
             base + "/admin/mailchimp_integration/mailchimpconnection/")
        take(admin, out, "10-admin-newsletter-settings",
             base + "/admin/subscriptions/newssettings/")
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="folder for the PNGs (created if missing)")
    parser.add_argument("--url", help="a running store, e.g. http://127.0.0.1:8000 (make run)")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        print(f"screenshots: {CHROMIUM} is not installed (apt-get install chromium)")
        return 1
    print(f"Screenshots in {args.outdir}:")
    if args.url:
        shoot(args.url.rstrip("/"), args.outdir)
    else:
        with own_store() as url:
            shoot(url, args.outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
