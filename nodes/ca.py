"""Each organization's certificate authority (cryptography's x509).

The agent makes the daemon's key on the node and sends a CSR; we sign a server certificate for
the node's identity (its uuid's name, the address it registered from). The platform talks to
daemons with a client certificate of the same CA, and accepts from a daemon only the very
certificate issued to that node (nodes.docker_client). ECDSA P-256 keys: small, fast, and
accepted by every supported dockerd.
"""

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_YEARS = 10
LEAF_YEARS = 5


class CSRError(ValueError):
    """The CSR cannot be signed; the message says why."""


@dataclass(frozen=True)
class Keypair:
    cert_pem: str
    key_pem: str


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )


def _key_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _builder(subject: x509.Name, issuer: x509.Name, public_key, years: int):
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * years))
    )


def create_ca(org_name: str) -> tuple[Keypair, Keypair]:
    """Return (CA, platform client) key pairs for an organization."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"dockercloud CA for {org_name}", f"dockercloud/{org_name}")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), CA_YEARS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = (
        _builder(
            _name("dockercloud platform", f"dockercloud/{org_name}"),
            ca_name,
            client_key.public_key(),
            LEAF_YEARS,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return (
        Keypair(ca_cert.public_bytes(pem).decode(), _key_pem(ca_key)),
        Keypair(client_cert.public_bytes(pem).decode(), _key_pem(client_key)),
    )


def sign_server_csr(
    *,
    csr_pem: str,
    ca_cert_pem: str,
    ca_key_pem: str,
    addresses: list[str],
    fqdn: str,
) -> x509.Certificate:
    """Sign a daemon certificate from the node's own CSR for the identity the control plane
    gives it: its uuid's name and the addresses the caller validated. Nothing the CSR asks
    for (subject, names, extensions) is copied: only its public key is used."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError as exc:
        raise CSRError(f"the CSR is not a PEM certificate request: {exc}") from None
    if not csr.is_signature_valid:
        raise CSRError("the CSR's signature does not verify")
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    names: list[x509.GeneralName] = [x509.DNSName(fqdn)]
    for address in sorted(set(addresses)):
        names.append(x509.IPAddress(ipaddress.ip_address(address)))
    return (
        _builder(_name(fqdn, "dockercloud node"), ca_cert.subject, csr.public_key(), LEAF_YEARS)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def cert_sha256(cert: x509.Certificate) -> str:
    """The certificate's SHA-256 fingerprint in hex: what a client pins it by."""
    return cert.fingerprint(hashes.SHA256()).hex()
