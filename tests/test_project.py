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
