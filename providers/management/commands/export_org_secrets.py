"""Export an organization's credentials for another installation (see providers.transfer).

KEYFILE holds the other installation's DC_ENCRYPTION_KEYS (comma- or newline-separated; the
first is used). Import there with `import_org_secrets FILE`.
"""

import json
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from core import crypto
from providers.transfer import org_secrets_export


class Command(BaseCommand):
    help = "Export an organization's credentials, its data key re-wrapped for other keys."

    def add_arguments(self, parser):
        parser.add_argument("organization")
        parser.add_argument("--to-keys", required=True, help="file with the target's keys")
        parser.add_argument("--output", "-o", default="-", help="file to write (default stdout)")

    def handle(self, *args, organization: str, to_keys: str, output: str, **options):
        org = Organization.objects.filter(name=organization).first()
        if org is None:
            raise CommandError(f"No organization named {organization!r}.")
        keys = crypto.parse_keys(Path(to_keys).read_text())
        if not keys:
            raise CommandError(f"{to_keys} holds no key.")
        try:
            document = org_secrets_export(organization=org, target_keys=keys)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        text = json.dumps(document, indent=2) + "\n"
        if output == "-":
            sys.stdout.write(text)
            return
        path = Path(output)
        path.touch(mode=0o600)
        path.write_text(text)
        count = len(document["credentials"])
        self.stderr.write(f"Exported {count} credential(s) of {org.name} to {output}.")
