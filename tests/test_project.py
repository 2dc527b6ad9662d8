"""The project as a whole: deploy checks, migrations, settings read from the environment."""
import os
import secrets
import subprocess
import sys

from tests.conftest import BASE_DIR


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**child_env(), "DJANGO_SETTINGS_MODULE": "shop.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def child_env() -> dict[str, str]:
    """This process's environment, less what the test run itself set for Playwright."""
    return {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}


PRODUCTION_ENV = {
    "DEBUG": "0",
    "SHOP_DEVELOPMENT": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "SECURE_SSL": "1",
    "ALLOWED_HOSTS": "shop.example.com",
}


def test_deploy_check_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


def test_models_and_migrations_agree():
    result = run_manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_redis_url_the_broker_needs_no_server():
    code = "from django.conf import settings; print(settings.CELERY_BROKER_URL)"
    result = run_manage("shell", "-v", "0", "-c", code, REDIS_URL="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "filesystem://"


def test_with_redis_url_celery_uses_redis():
    code = "from django.conf import settings; print(settings.CELERY_BROKER_URL)"
    result = run_manage("shell", "-v", "0", "-c", code, REDIS_URL="redis://127.0.0.1:6379/3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "redis://127.0.0.1:6379/3"


def environment_names_read_by(path) -> set[str]:
    """Every variable name a module reads with os.environ / env_bool / env_list."""
    import re

    text = path.read_text()
    calls = r'(?:os\.environ\.get|os\.getenv|env_bool|env_list|os\.environ\[)\(?\s*"([A-Z0-9_]+)"'
    membership = r'"([A-Z0-9_]+)" (?:not )?in os\.environ'
    return set(re.findall(calls, text)) | set(re.findall(membership, text))


def test_env_example_lists_every_variable_the_settings_and_make_run_read():
    import re

    listed = set(re.findall(r"^([A-Z0-9_]+)=", (BASE_DIR / ".env.example").read_text(), re.M))
    read = environment_names_read_by(BASE_DIR / "shop" / "settings.py")
    read |= environment_names_read_by(BASE_DIR / "scripts" / "run_dev.py")
    assert {"CACHE_URL", "EMAIL_FILE_PATH", "PORT", "SANDBOX_PORT", "HOST"} <= read
    assert read - listed == set()


def test_in_development_commands_reach_the_sandbox_of_a_running_make_run(tmp_path):
    (tmp_path / "dev-sandbox.env").write_text(
        "# written by make run\nMAILCHIMP_API_URL=http://127.0.0.1:8612/3.0\n"
        "MAILCHIMP_API_KEY=demo0000sandbox0000key-us6\n"
    )
    code = "from django.conf import settings; print(settings.MAILCHIMP_API_URL)"
    env = {"SHOP_VAR_DIR": str(tmp_path), "MAILCHIMP_API_KEY": "", "MAILCHIMP_API_URL": ""}
    result = run_manage("shell", "-v", "0", "-c", code, **env)
    assert result.stdout.strip() == "http://127.0.0.1:8612/3.0", result.stderr

    # A key in the environment wins, and production never reads the file.
    with_key = run_manage("shell", "-v", "0", "-c", code, **{**env, "MAILCHIMP_API_KEY": "a-us6"})
    assert with_key.stdout.strip() == "", with_key.stderr
    production = run_manage("shell", "-v", "0", "-c", code, **{**env, **PRODUCTION_ENV})
    assert production.stdout.strip() == "", production.stderr
