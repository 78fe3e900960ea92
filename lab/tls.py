"""Throwaway certificates for lab tests: a CA, a server certificate for a host's address and
a client certificate, written as PEM files the way dockerd and the docker SDK expect them."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclasses.dataclass(frozen=True)
class TLSFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def dockerd_args(self, directory: str | None = None) -> list[str]:
        """dockerd's TLS flags; ``directory`` names where dockerd sees the files, when that
        differs from where they were written (e.g. ``/etc/dockercloud/tls`` in a lab host)."""

        def where(path: Path) -> str:
            return f"{directory}/{path.name}" if directory else str(path)

        return [
            "--tlsverify",
            f"--tlscacert={where(self.ca)}",
            f"--tlscert={where(self.server_cert)}",
            f"--tlskey={where(self.server_key)}",
        ]

    def client_tls(self):
        """A ``docker.tls.TLSConfig`` presenting the client certificate, verifying the server."""
        import docker

        return docker.tls.TLSConfig(
            client_cert=(str(self.client_cert), str(self.client_key)),
            ca_cert=str(self.ca),
            verify=True,
        )

    def docker_client(self, base_url: str, *, version: str = "1.41"):
        """A docker SDK client over mutual TLS to ``base_url`` (``https://ADDR:PORT``).

        requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` from the environment override
        the CA the SDK sets, so verification would use the system bundle; ``trust_env``
        off keeps our CA. The fixed API version (dockerd 20.10 speaks 1.41) avoids the SDK's
        version probe, which runs in the constructor before ``trust_env`` can be set.
        """
        import docker

        client = docker.DockerClient(base_url=base_url, tls=self.client_tls(), version=version)
        client.api.trust_env = False
        return client


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: str, issuer: x509.Name, key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def make_ca(common_name: str = "dclab test CA"):
    """Return ``(key, certificate)`` of a fresh self-signed CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(common_name, _name(common_name), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(ca, common_name: str, *, server_ips=(), client: bool = False):
    """Return ``(key, certificate)`` signed by ``ca``: a server cert with IP SANs, or a client
    cert."""
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        _builder(common_name, ca_cert.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if server_ips:
        sans = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _write(path: Path, key, cert) -> None:
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.with_suffix(".key").chmod(0o600)
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def write_tls_files(directory: Path, server_ips=("127.0.0.1",), ca=None) -> TLSFiles:
    """Write ``ca.pem``, ``server.{pem,key}`` and ``client.{pem,key}`` into ``directory``.

    Pass ``ca`` (from :func:`make_ca`) to issue from an existing CA.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca = ca or make_ca()
    (directory / "ca.pem").write_bytes(ca[1].public_bytes(serialization.Encoding.PEM))
    _write(directory / "server", *issue(ca, "dockerd", server_ips=server_ips))
    _write(directory / "client", *issue(ca, "client", client=True))
    return TLSFiles(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )
