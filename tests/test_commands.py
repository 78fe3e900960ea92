"""Management commands that scripts rely on."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import ApiKey, Organization, User
from tests.conftest import make_user

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


def test_create_api_key_prints_only_the_key(capsys):
    user = make_user("erin")
    call_command("create_api_key", "erin", "--label", "deploy")
    out = capsys.readouterr().out.strip()
    assert out.startswith("dck_") and "\n" not in out
    key = ApiKey.objects.get(user=user, label="deploy")
    assert key.prefix == out[4:12] and out not in key.digest


def test_create_api_key_unknown_user():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("create_api_key", "nobody")


def test_createsuperuser_noinput_gets_a_personal_org(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "an admin password 42")
    call_command("createsuperuser", "--noinput", "--username", "root2", "--email", "r@example.com")
    user = User.objects.get(username="root2")
    assert user.is_superuser and user.check_password("an admin password 42")
    assert Organization.objects.get(personal_for=user).name == "root2"


@pytest.mark.smoke
def test_production_settings_refuse_to_start_without_secrets(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DC_", "DATABASE", "REDIS"))}
    env.update(DC_ENV="production", DC_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "DC_SECRET_KEY" in result.stderr


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    env = dict(os.environ)
    env.update(
        DC_ENV="production",
        DC_VAR_DIR=str(tmp_path),
        DC_SECRET_KEY="x" * 64 + "-production-secret-key-for-the-check-only",
        DC_ALLOWED_HOSTS="dockercloud.example.com",
        DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path}/db.sqlite3",
        REDIS_URL=os.environ.get("REDIS_URL") or "redis://127.0.0.1:1/0",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
