"""`make run`: start the Mailchimp sandbox, a Celery worker and beat, and the web server.

With no MAILCHIMP_API_KEY in the environment, the store is pointed at the local sandbox
(a demo Mailchimp account), and the sandbox's address and key are written to
var/dev-sandbox.env for as long as it runs, so `python manage.py sync_lists` typed in another
terminal reaches it too (shop/settings.py reads the file in development). Ctrl-C stops
everything this script started.

Environment: HOST (127.0.0.1), PORT (8000, the store), SANDBOX_PORT (8100).
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("SHOP_VAR_DIR", ROOT / "var"))
PYTHON = sys.executable
HOST = os.environ.get("HOST", "127.0.0.1")
WEB_PORT = int(os.environ.get("PORT", "8000"))
SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", "8100"))
SANDBOX_KEY = "demo0000sandbox0000key-us6"
SANDBOX_ENV_FILE = VAR / "dev-sandbox.env"


def sandbox_env_file_write(api_url: str, site_url: str) -> None:
    SANDBOX_ENV_FILE.write_text(
        "# Written by `make run` while its Mailchimp sandbox runs; removed when it stops.\n"
        f"MAILCHIMP_API_URL={api_url}\nMAILCHIMP_API_KEY={SANDBOX_KEY}\nSITE_URL={site_url}\n"
    )


def sandbox_env_file_remove() -> None:
    SANDBOX_ENV_FILE.unlink(missing_ok=True)


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) != 0


def wait_for_port(port: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_is_free(port):
            return True
        time.sleep(0.2)
    return False


def main() -> int:
    VAR.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DEBUG": os.environ.get("DEBUG", "1"), "PYTHONUNBUFFERED": "1"}
    for port in (WEB_PORT, SANDBOX_PORT):
        if not port_is_free(port):
            print(f"run: port {port} is already in use (is `make run` already running?)")
            return 1

    commands = {}
    use_sandbox = not env.get("MAILCHIMP_API_KEY")
    if use_sandbox:
        env["MAILCHIMP_API_URL"] = f"http://{HOST}:{SANDBOX_PORT}/3.0"
        env["MAILCHIMP_API_KEY"] = SANDBOX_KEY
        # The sandbox delivers its webhooks to the dev server.
        env["SITE_URL"] = env.get("SITE_URL") or f"http://{HOST}:{WEB_PORT}"
        commands["sandbox"] = [
            PYTHON, "manage.py", "mailchimp_sandbox", "--port", str(SANDBOX_PORT),
            "--api-key", SANDBOX_KEY, "--state", str(VAR / "sandbox-state.json"),
        ]
    commands["worker"] = [
        PYTHON, "-m", "celery", "-A", "shop", "worker", "--loglevel=INFO", "--concurrency=2",
    ]
    commands["beat"] = [
        PYTHON, "-m", "celery", "-A", "shop", "beat", "--loglevel=INFO",
        "--schedule", str(VAR / "celerybeat-schedule"),
    ]
    commands["web"] = [PYTHON, "manage.py", "runserver", f"{HOST}:{WEB_PORT}", "--noreload"]

    processes = {}
    logs = {}
    for name, command in commands.items():
        logs[name] = open(VAR / f"{name}.log", "ab")  # noqa: SIM115 - closed at exit
        processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=logs[name], stderr=subprocess.STDOUT
        )
        if name == "sandbox":
            if not wait_for_port(SANDBOX_PORT):
                print(f"run: the sandbox did not start; see {VAR / 'sandbox.log'}")
                stop(processes)
                return 1
            sandbox_env_file_write(env["MAILCHIMP_API_URL"], env["SITE_URL"])
            # The demo account's lists, with one audience offered, so the newsletter box works.
            subprocess.run([PYTHON, "manage.py", "seed_demo_mailchimp"], cwd=ROOT, env=env)

    if not wait_for_port(WEB_PORT):
        print(f"run: the web server did not start; see {VAR / 'web.log'}")
        stop(processes)
        return 1
    if use_sandbox:  # Mailchimp checks a webhook's URL answers: only now it does
        subprocess.run([PYTHON, "manage.py", "register_webhooks"], cwd=ROOT, env=env,
                       stdout=logs["web"], stderr=subprocess.STDOUT)

    print()
    print(f"  Store:          http://{HOST}:{WEB_PORT}/")
    print(f"  Back office:    http://{HOST}:{WEB_PORT}/admin/")
    print(f"  Login:          {os.environ.get('DEMO_ADMIN_EMAIL', 'admin@example.com')}"
          f" / {os.environ.get('DEMO_ADMIN_PASSWORD', 'admin-demo-123')}")
    if use_sandbox:
        print(f"  Mailchimp:      local sandbox at {env['MAILCHIMP_API_URL']}"
              f" (key {SANDBOX_KEY[-8:].rjust(12, '•')})")
    else:
        print("  Mailchimp:      the account of MAILCHIMP_API_KEY")
    print(f"  Logs:           {VAR}/{{web,worker,beat,sandbox}}.log")
    print("  Stop with Ctrl-C.")
    print()

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    try:
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"run: {name} exited with {process.returncode}; see {VAR / name}.log")
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nrun: stopping…")
        return 0
    finally:
        stop(processes)


def interrupt(signum, frame):
    raise KeyboardInterrupt


def stop(processes: dict) -> None:
    if "sandbox" in processes:
        sandbox_env_file_remove()
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    for process in processes.values():
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    sys.exit(main())
