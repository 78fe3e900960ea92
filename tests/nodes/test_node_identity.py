"""A node is known by its own identity only: the uuid name and the address it registered from.

Each test is a host registering as its agent would (a POST with the token, its facts and its
CSR, from an address), trying to get a certificate for more than itself or to make the
control plane dial an address of its choosing; and, with real lab hosts, a host presenting a
certificate the CA issued to another node (or to a terminated one) where a node is dialled.
"""

import ipaddress
import subprocess
import textwrap

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core import crypto
from nodes.docker_client import NotPinned, direct_client
from nodes.models import Node, OrgCA
from nodes.transitions.nodes import node_forget_agent
from tests.e2e.conftest import wait_for

from .test_registration import FACTS, new_token, register

pytestmark = pytest.mark.django_db
VICTIM = "10.250.0.5"  # another node's address
METADATA = "169.254.169.254"
UNSPECIFIED = "0.0.0.0"  # noqa: S104 (an address a node claims, nothing binds it)


def names_in(cert_pem: str) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(sans.get_values_for_type(x509.DNSName)), {
        str(ip) for ip in sans.get_values_for_type(x509.IPAddress)
    }


def greedy_csr(key=None) -> str:
    """A CSR asking for a wildcard name, another node's address and the metadata service."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    wanted = x509.SubjectAlternativeName(
        [
            x509.DNSName("*.acme.test"),
            x509.IPAddress(ipaddress.ip_address(VICTIM)),
            x509.IPAddress(ipaddress.ip_address(METADATA)),
        ]
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "*")])
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(wanted, critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_a_node_gets_a_certificate_for_its_own_identity_only(owner, client):
    facts = {
        **FACTS,
        "hostname": "*.example.com",
        "addresses": ["10.250.0.9", VICTIM, METADATA, "127.0.0.1", "::1", UNSPECIFIED],
    }
    token = new_token(owner)["token"]
    response = register(client, token, source="10.250.0.9", csr=greedy_csr(), facts=facts)
    assert response.status_code == 201, response.content
    node = Node.objects.get(uuid=response.json()["node_uuid"])
    dns, ips = names_in(response.json()["cert"])
    assert dns == {f"{node.uuid}.node.dockercloud"}
    assert ips == {"10.250.0.9"}
    cert = x509.load_pem_x509_certificate(response.json()["cert"].encode())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == dns.pop()
    assert node.public_ip == "10.250.0.9"
    assert node.addresses == facts["addresses"]  # shown as the node said, never trusted


def test_the_public_ip_is_where_the_node_registered_from_not_what_it_claims(owner, client):
    token = new_token(owner)["token"]
    facts = {**FACTS, "addresses": [METADATA, VICTIM]}
    response = register(client, token, source="192.168.7.20", facts=facts)
    assert response.status_code == 201, response.content
    node = Node.objects.get(uuid=response.json()["node_uuid"])
    assert node.public_ip == "192.168.7.20"  # a private LAN address is a real node's address
    assert names_in(response.json()["cert"])[1] == {"192.168.7.20"}


@pytest.mark.parametrize(
    "source",
    [METADATA, "127.0.0.1", "127.8.9.10", "::1", "fe80::1", "::ffff:127.0.0.1", UNSPECIFIED,
     "224.0.0.1", "255.255.255.255", "fd00:ec2::254", "100.100.100.200"],
)  # fmt: skip
def test_loopback_link_local_and_metadata_addresses_are_never_a_nodes_address(
    owner, client, source
):
    """Registering from (and claiming) such an address must not make it the address the
    workers dial on 2375, nor a name in the certificate: the node is reached by its tunnel."""
    token = new_token(owner)["token"]
    response = register(client, token, source=source, facts={**FACTS, "addresses": [source]})
    assert response.status_code == 201, response.content
    node = Node.objects.get(uuid=response.json()["node_uuid"])
    assert node.public_ip is None
    assert names_in(response.json()["cert"])[1] == set()


def test_malformed_addresses_in_the_facts_are_refused(owner, client):
    token = new_token(owner)["token"]
    response = register(client, token, facts={**FACTS, "addresses": ["x" * 10_000]})
    assert response.status_code == 400
    assert response.json()["error"] == "facts.addresses must be a list of IP addresses"
    assert not Node.objects.exists()
    assert register(client, token).status_code == 201  # the token survives a refusal


# --- the workers accept from a daemon only the certificate issued to that node --------------

# An impostor's daemon: any TLS client, answers every request as dockerd's /_ping would.
IMPOSTOR = textwrap.dedent(
    """\
    import socket, ssl, sys
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    server = socket.create_server(("0.0.0.0", 2375))
    while True:
        conn, _ = server.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(65536)
                tls.sendall(b"HTTP/1.1 200 OK\\r\\nApi-Version: 1.41\\r\\nContent-Type: text/plain"
                            b"\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nOK")
        except OSError:
            pass
    """
)


class Agent:
    """A host's side of registration: its own key, and the certificate it got back."""

    def __init__(self, tmp_path, name: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.key_path = tmp_path / f"{name}-key.pem"
        self.cert_path = tmp_path / f"{name}-cert.pem"
        self.key_path.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def register(self, client, owner, *, source: str) -> Node:
        csr = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node")])
        )
        pem = csr.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        facts = {**FACTS, "addresses": [source]}
        response = register(
            client, new_token(owner)["token"], source=source, csr=pem.decode(), facts=facts
        )
        assert response.status_code == 201, response.content
        self.cert_path.write_text(response.json()["cert"])
        return Node.objects.get(uuid=response.json()["node_uuid"])


def _serve(host, agent: Agent) -> subprocess.Popen:
    """Run a daemon impostor in the lab host presenting `agent`'s certificate on 2375."""
    server = host.popen(
        ["python3", "-c", IMPOSTOR, str(agent.cert_path), str(agent.key_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        return host.run("ss -Hltn 'sport = :2375'", check=False).stdout.strip() != ""

    wait_for(listening, timeout=20, interval=0.1, message="the impostor to listen on 2375")
    return server


def _stop(server: subprocess.Popen) -> None:
    server.kill()
    server.wait(timeout=10)


def _answers(node: Node) -> bool:
    client = direct_client(node, timeout=5)
    try:
        return client.ping() is True
    finally:
        client.close()


@pytest.mark.lab
def test_a_terminated_or_other_nodes_certificate_is_refused_where_a_node_is_dialled(
    owner, client, lab_hosts, tmp_path
):
    """Node A registers from the host's address, is terminated, and its host keeps the
    certificate and key (it had root). Node B later registers from the same address (an
    address reused, as cloud and DHCP addresses are; or a NAT both sit behind). A's host
    answering there with A's certificate, still valid and signed by the organization's CA for
    that very address, must not pass for B; nor may anything dial A any more. (A live node
    of the organization answering for another is the same case: its certificate is not the
    one pinned for the node dialled.)"""
    host = lab_hosts(1)[0]
    first, second = Agent(tmp_path, "a"), Agent(tmp_path, "b")
    node_a = first.register(client, owner, source=host.address)
    node_forget_agent(node=node_a)
    node_a.refresh_from_db()
    node_b = second.register(client, owner, source=host.address)
    assert node_a.public_ip == node_b.public_ip == host.address

    impostor = _serve(host, first)
    try:
        with pytest.raises(requests.exceptions.SSLError, match="(?i)fingerprint"):
            _answers(node_b)
        with pytest.raises(NotPinned):
            direct_client(node_a)  # a terminated node is never dialled directly again
    finally:
        _stop(impostor)

    # The same server with B's own certificate is accepted: the refusal above was the pin.
    genuine = _serve(host, second)
    try:
        assert _answers(node_b)
    finally:
        _stop(genuine)

    # Nor does a node's certificate open another node's daemon: it is no client certificate.
    authority = OrgCA.objects.get(organization=owner.org)
    files = {"ca.pem": authority.ca_cert, "platform-cert.pem": authority.client_cert}
    files["platform-key.pem"] = crypto.decrypt(authority.client_key_encrypted)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    ca_path = tmp_path / "ca.pem"
    tls = (
        f"--tlsverify --tlscacert={ca_path} --tlscert={second.cert_path} --tlskey={second.key_path}"
    )
    daemon = host.start_dockerd([*tls.split(), "-H", "tcp://0.0.0.0:2375", "--bridge=none"])
    try:
        assert _answers(node_b)  # B's real daemon, through the pin

        def ping_as(cert, key):
            session = requests.Session()
            session.trust_env = False
            url = f"https://{host.address}:2375/_ping"
            return session.get(url, cert=(str(cert), str(key)), verify=str(ca_path), timeout=10)

        assert ping_as(tmp_path / "platform-cert.pem", tmp_path / "platform-key.pem").text == "OK"
        with pytest.raises(requests.exceptions.SSLError):
            ping_as(first.cert_path, first.key_path)  # the terminated node's
        with pytest.raises(requests.exceptions.SSLError):
            ping_as(second.cert_path, second.key_path)  # even the node's own
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
