"""Import credentials exported by `export_org_secrets` for this installation's keys.

The organization must exist here (`--org` imports into another name). Rerunnable.
"""

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.audit import SYSTEM
from accounts.models import Organization
from providers.transfer import org_secrets_import


class Command(BaseCommand):
    help = "Import an organization's credentials exported for this installation's keys."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--org", help="import into this organization (default: same name)")

    def handle(self, *args, file: str, org: str | None, **options):
        document = json.loads(Path(file).read_text())
        name = org or document.get("organization", "")
        organization = Organization.objects.filter(name=name).first()
        if organization is None:
            raise CommandError(f"No organization named {name!r} here: create it first.")
        try:
            created, skipped = org_secrets_import(
                actor=SYSTEM, organization=organization, document=document
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"Imported {created} credential(s) into {name}; skipped {skipped}.")
