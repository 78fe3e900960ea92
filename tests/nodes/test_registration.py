"""BYO registration without a lab: token, install script, CSR signing, refusals."""

import base64
import hashlib
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID
from django.utils import timezone

from core import signing
from nodes.models import Node, OrgCA, RegistrationToken

pytestmark = pytest.mark.django_db
FACTS = {
    "hostname": "web-1",
    "os": "Debian GNU/Linux 12 (bookworm)",
    "cpus": 2,
    "memory_mb": 2048,
    "disk_gb": 40,
    "addresses": ["10.250.0.9"],
    "docker_version": "20.10.24",
    "agent_version": "0.1.0",
}


def signing_public_key() -> bytes:
    return signing._key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def make_csr(hostname: str = "web-1") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def new_token(person, ns: str = "acme") -> dict:
    prefix = f"/api/infra/v1/{ns}/" if ns else "/api/infra/v1/"
    response = person.client().post(f"{prefix}token/")
    assert response.status_code == 201, response.content
    return response.json()


def register(client, token: str, *, source: str = "10.250.0.9", **overrides):
    """POST as an agent would, from the address `source` (what the server sees)."""
    body = {"token": token, "csr": make_csr(), "facts": FACTS, **overrides}
    return client.post(
        "/api/agent/v1/register/", body, content_type="application/json", REMOTE_ADDR=source
    )


def test_token_answers_the_install_command_with_the_agents_sha256(owner, client):
    body = new_token(owner)
    assert body["token"].startswith("dcr_")
    served = hashlib.sha256(client.get("/install/agent.pyz").content).hexdigest()
    assert body["command"] == (
        f"curl -fsSL http://testserver/install/{body['token']} | sh -s -- --sha256 {served}"
    )
    row = RegistrationToken.objects.get()
    assert row.organization == owner.org and body["token"] not in row.digest


def test_token_without_namespace_goes_to_the_personal_org(owner):
    new_token(owner, ns="").get("token")
    assert RegistrationToken.objects.get().organization.name == "alice"


def test_install_script_carries_server_and_token(owner, client):
    token = new_token(owner)["token"]
    script = client.get(f"/install/{token}").content.decode()
    assert script.startswith("#!/bin/sh")
    assert f"TOKEN='{token}'" in script and "SERVER='http://testserver'" in script


def test_install_script_for_a_dead_token_fails_clearly(client):
    script = client.get("/install/dcr_nope").content.decode()
    assert "unknown registration token" in script and "exit 1" in script


def test_registration_signs_the_hosts_csr(owner, client):
    token = new_token(owner)["token"]
    response = register(client, token)
    assert response.status_code == 201, response.content
    body = response.json()
    node = Node.objects.get(uuid=body["node_uuid"])
    assert node.organization == owner.org and node.state == "Deploying"
    assert node.hostname == "web-1" and node.addresses == ["10.250.0.9"] and node.cpu == 2
    assert body["secret"] not in node.agent_secret_digest
    cert = x509.load_pem_x509_certificate(body["cert"].encode())
    ca_cert = x509.load_pem_x509_certificate(body["ca_cert"].encode())
    cert.verify_directly_issued_by(ca_cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "10.250.0.9" in [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    assert node.cert_sha256 == cert.fingerprint(hashes.SHA256()).hex()
    assert base64.b64decode(body["signing_key"]) == signing_public_key()
    assert body["daemon"]["log_opts"]["max-size"] == "10m"
    assert body["ws_url"] == "ws://testserver/ws/agent/"
    ca_row = OrgCA.objects.get(organization=owner.org)
    assert "PRIVATE KEY" not in ca_row.ca_key_encrypted  # encrypted at rest


def test_used_token_is_refused(owner, client):
    token = new_token(owner)["token"]
    assert register(client, token).status_code == 201
    again = register(client, token)
    assert again.status_code == 410
    assert "already used" in again.json()["error"]
    assert Node.objects.count() == 1


def test_expired_token_is_refused(owner, client, time_machine):
    token = new_token(owner)["token"]
    time_machine.move_to(timezone.now() + timedelta(hours=2))
    response = register(client, token)
    assert response.status_code == 410 and "expired" in response.json()["error"]


def test_bad_csr_is_refused_and_the_token_survives(owner, client):
    token = new_token(owner)["token"]
    response = register(client, token, csr="not a csr")
    assert response.status_code == 400 and "Bad CSR" in response.json()["error"]
    assert not Node.objects.exists()
    assert register(client, token).status_code == 201


def test_unknown_token_and_bad_body(client):
    assert register(client, "dcr_unknown").status_code == 401
    response = client.post("/api/agent/v1/register/", "[1]", content_type="application/json")
    assert response.status_code == 400


def test_outsider_cannot_make_tokens_or_see_nodes(owner, outsider, client):
    assert outsider.client().post("/api/infra/v1/acme/token/").status_code == 404
    token = new_token(owner)["token"]
    node_uuid = register(client, token).json()["node_uuid"]
    other = outsider.client()
    assert other.get(f"/api/infra/v1/acme/node/{node_uuid}/").status_code == 404
    assert other.get(f"/api/infra/v1/globex/node/{node_uuid}/").status_code == 404
    assert other.delete(f"/api/infra/v1/acme/node/{node_uuid}/").status_code == 404
    assert other.get("/api/infra/v1/node/").json()["meta"]["total_count"] == 0
    listed = owner.client().get("/api/infra/v1/acme/node/").json()["objects"]
    assert [n["uuid"] for n in listed] == [node_uuid]


def test_read_only_member_cannot_make_tokens(owner, readonly_member):
    assert readonly_member.client().post("/api/infra/v1/acme/token/").status_code == 403
    assert not RegistrationToken.objects.exists()


def test_the_agent_artifact_is_served_with_its_checksum(client):
    import io
    import zipfile

    response = client.get("/install/agent.pyz")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    body = response.content
    assert hashlib.sha256(body).hexdigest() == response["X-Checksum-Sha256"]
    assert "__main__.py" in zipfile.ZipFile(io.BytesIO(body)).namelist()
