"""Management commands that scripts rely on."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import ApiKey, Organization, User
from core import signing
from tests.conftest import make_user

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


def rsa_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


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


def production_env(tmp_path, **overrides) -> dict:
    env = dict(os.environ)
    env.update(
        DC_ENV="production",
        DC_VAR_DIR=str(tmp_path),
        DC_SECRET_KEY="x" * 64 + "-production-secret-key-for-the-check-only",
        DC_ALLOWED_HOSTS="dockercloud.example.com",
        DC_PUBLIC_URL="https://dockercloud.example.com",
        DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path}/db.sqlite3",
        REDIS_URL=os.environ.get("REDIS_URL") or "redis://127.0.0.1:1/0",
    )
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "url", ["http://dockercloud.example.com", "dockercloud.example.com", "", None]
)
def test_production_refuses_a_public_url_that_is_not_https(tmp_path, url):
    """Hosts run, as root, the script and the agent they fetch from DC_PUBLIC_URL."""
    result = manage(production_env(tmp_path, DC_PUBLIC_URL=url), "check")
    assert result.returncode != 0
    assert "DC_PUBLIC_URL must be an https:// URL in production" in result.stderr
    assert not (tmp_path / "signing.key").exists()


def test_production_needs_a_signing_key_and_parses_it_strictly(tmp_path):
    result = manage(
        production_env(tmp_path, DC_SIGNING_KEY=None, DC_SIGNING_KEY_FILE=None), "check"
    )
    assert result.returncode != 0 and "DC_SIGNING_KEY (or DC_SIGNING_KEY_FILE) is required" in (
        result.stderr
    )
    assert not (tmp_path / "signing.key").exists()  # never generated in production
    rsa = rsa_key_pem()
    for bad, message in (
        ("not a key", "must be an unencrypted Ed25519 private key in PEM"),
        (rsa, "must be an Ed25519 key, not RSAPrivateKey"),
    ):
        result = manage(production_env(tmp_path, DC_SIGNING_KEY=bad), "check")
        assert result.returncode != 0 and message in result.stderr
        assert rsa.splitlines()[2] not in result.stderr  # the key is never shown
    key_file = tmp_path / "signing.pem"
    key_file.write_text(signing.generate_key_pem())
    env = production_env(tmp_path, DC_SIGNING_KEY=None, DC_SIGNING_KEY_FILE=str(key_file))
    assert manage(env, "check").returncode == 0


def test_the_embedded_default_generates_its_signing_key_once_and_privately(tmp_path):
    """Web, worker and beat start together: all find the key missing, all get the same one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DC_", "DATABASE", "REDIS"))}
    env["DC_VAR_DIR"] = str(tmp_path)
    code = "from django.conf import settings; print(settings.DC_SIGNING_KEY.splitlines()[1])"
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "dockercloud.settings"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    seen = {p.communicate(timeout=60)[0].strip() for p in starts}
    assert len(seen) == 1 and "" not in seen
    path = tmp_path / "signing.key"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert signing.parse_private_key(path.read_text())
    assert sorted(p.name for p in tmp_path.iterdir() if "signing" in p.name) == ["signing.key"]
