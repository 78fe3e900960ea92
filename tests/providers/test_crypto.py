"""Secrets at rest: envelope encryption, key rotation, export to another installation."""

import json
import os
import stat

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from accounts.audit import Actor
from core import crypto
from nodes.models import OrgCA
from nodes.services import org_ca_ensure
from providers.crypto import data_key_rotate, org_decrypt, org_encrypt
from providers.models import Credential, OrgDataKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(monkeypatch):
    """Set DC_ENCRYPTION_KEYS for the test (`keys.use(...)`), restored afterwards."""

    class Keys:
        def use(self, *values: str) -> None:
            monkeypatch.setenv("DC_ENCRYPTION_KEYS", ",".join(values))
            crypto.reload_keys()

    yield Keys()
    monkeypatch.undo()
    crypto.reload_keys()


def test_each_organization_has_its_own_data_key(owner, outsider):
    token = org_encrypt(owner.org, "s3cret")
    assert org_decrypt(owner.org, token) == "s3cret"
    with pytest.raises(ImproperlyConfigured):
        org_decrypt(outsider.org, token)
    wrapped = OrgDataKey.objects.get(organization=owner.org).wrapped_key
    data_key = crypto.decrypt(wrapped)
    assert Fernet(data_key.encode()).decrypt(token.encode()) == b"s3cret"


def test_embedded_default_generates_a_private_key_file(settings, tmp_path, keys, monkeypatch):
    monkeypatch.delenv("DC_ENCRYPTION_KEYS")
    settings.VAR_DIR = tmp_path
    crypto.reload_keys()
    assert crypto.decrypt(crypto.encrypt("x")) == "x"
    path = tmp_path / "encryption.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    crypto.reload_keys()
    crypto.encrypt("y")
    assert path.read_text() == first  # kept, not regenerated


def test_production_refuses_to_start_without_keys(settings, keys, monkeypatch):
    monkeypatch.delenv("DC_ENCRYPTION_KEYS")
    settings.PRODUCTION = True
    crypto.reload_keys()
    with pytest.raises(ImproperlyConfigured, match="DC_ENCRYPTION_KEYS"):
        crypto.check_keys()
    from django.apps import apps

    with pytest.raises(ImproperlyConfigured):
        apps.get_app_config("providers").ready()
    keys.use("not-a-fernet-key")
    with pytest.raises(ImproperlyConfigured, match="invalid key"):
        crypto.check_keys()


def _credential(owner, secret="tok_" + "a" * 40):
    """A credential row as the service stores it (no driver call needed for crypto tests)."""
    return Credential.objects.create(
        organization=owner.org,
        provider="digitalocean",
        name=f"c{Credential.objects.count()}",
        secret_encrypted=org_encrypt(owner.org, json.dumps({"token": secret})),
        secret_fields=["token"],
    )


def test_rotation_reencrypts_data_keys_and_ca_keys_then_the_old_key_can_go(owner, keys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys.use(old)
    credential = _credential(owner)
    secret_before = credential.secret_encrypted
    org_ca_ensure(organization=owner.org)
    ca_key = crypto.decrypt(OrgCA.objects.get().ca_key_encrypted)

    keys.use(new, old)
    call_command("rotate_encryption_keys", stdout=open(os.devnull, "w"))  # noqa: SIM115
    keys.use(new)  # the old key is gone
    credential.refresh_from_db()
    assert credential.secret_encrypted == secret_before  # data keys re-wrapped only
    assert credential.get_secret("token") == "tok_" + "a" * 40
    ca = OrgCA.objects.get()
    assert crypto.decrypt(ca.ca_key_encrypted) == ca_key
    assert crypto.is_current(ca.client_key_encrypted)


def test_rotation_can_be_interrupted_and_rerun(owner, outsider, keys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys.use(old)
    for org in (owner.org, outsider.org):
        org_encrypt(org, "x")
    keys.use(new, old)

    def crash(line):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        crypto.rotate_rows("providers.OrgDataKey", ("wrapped_key",), batch_size=1, progress=crash)
    current = [crypto.is_current(k.wrapped_key) for k in OrgDataKey.objects.order_by("pk")]
    assert current == [True, False]  # the first batch was committed
    counts = crypto.rotate_all(batch_size=1)
    assert counts["providers.OrgDataKey"] == 1
    assert crypto.rotate_all()["providers.OrgDataKey"] == 0  # nothing left: a rerun is cheap
    keys.use(new)
    assert org_decrypt(outsider.org, org_encrypt(outsider.org, "y")) == "y"


def test_data_key_rotation_reencrypts_the_organizations_rows(owner):
    credential = _credential(owner)
    before = (credential.secret_encrypted, OrgDataKey.objects.get().wrapped_key)
    assert data_key_rotate(owner.org) == 1
    credential.refresh_from_db()
    assert (credential.secret_encrypted, OrgDataKey.objects.get().wrapped_key) != before
    assert credential.get_secret("token") == "tok_" + "a" * 40
    call_command("rotate_encryption_keys", "--data-keys", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert Credential.objects.get().get_secret("token") == "tok_" + "a" * 40


def test_export_to_another_installation_and_import(owner, keys, tmp_path, capsys):
    here, there = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys.use(here)
    credential = _credential(owner, secret="tok_exported_secret_123")
    from providers.services import external_id_ensure

    external_id = external_id_ensure(organization=owner.org)
    keyfile = tmp_path / "there.keys"
    keyfile.write_text(there + "\n")
    out = tmp_path / "acme.json"
    call_command("export_org_secrets", "acme", "--to-keys", str(keyfile), "--output", str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "tok_exported_secret_123" not in out.read_text()

    # This installation cannot open it (it was made for the other one's keys).
    from accounts.services import organization_create

    target = organization_create(actor=Actor(user=owner.user), name="acme-copy")
    with pytest.raises(CommandError, match="not made for this installation"):
        call_command("import_org_secrets", str(out), "--org", "acme-copy")

    # "The other installation": its keys only.
    keys.use(there)
    call_command("import_org_secrets", str(out), "--org", "acme-copy")
    copy = Credential.objects.get(organization=target)
    assert copy.name == credential.name
    assert copy.get_secret("token") == "tok_exported_secret_123"
    # One database plays both installations here, so acme keeps its external id (an external
    # id is never shared); on a real second installation acme-copy would carry it.
    assert not hasattr(target, "aws_external_id") or target.aws_external_id.value != external_id
    call_command("import_org_secrets", str(out), "--org", "acme-copy")  # rerun: skipped
    assert Credential.objects.filter(organization=target).count() == 1
