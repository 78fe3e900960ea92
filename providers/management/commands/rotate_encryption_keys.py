"""Re-encrypt every secret under the first key of DC_ENCRYPTION_KEYS.

Rows encrypted directly under the master keys (organization data keys, CA keys) are
re-encrypted in batches; organization secrets need nothing, being under their data keys.
Safe to interrupt and rerun: rows already under the first key are skipped. Remove an old key
from DC_ENCRYPTION_KEYS only after a run that finished.

`--data-keys` also gives every organization a new data key and re-encrypts its secrets
(one transaction per organization).
"""

from django.core.management.base import BaseCommand

from accounts.models import Organization
from core import crypto
from providers.crypto import data_key_rotate
from providers.models import OrgDataKey


class Command(BaseCommand):
    help = "Re-encrypt every encrypted row under the first key of DC_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--data-keys",
            action="store_true",
            help="Also replace each organization's data key and re-encrypt its secrets.",
        )

    def handle(self, *args, batch_size: int, data_keys: bool, **options):
        self.verbosity = options["verbosity"]
        crypto.reload_keys()
        counts = crypto.rotate_all(batch_size=batch_size, progress=self._progress)
        for label, changed in counts.items():
            self.stdout.write(f"{label}: {changed} row(s) re-encrypted under the first key")
        if data_keys:
            org_ids = OrgDataKey.objects.values_list("organization_id", flat=True)
            for org in Organization.objects.filter(pk__in=list(org_ids)).order_by("pk"):
                changed = data_key_rotate(org)
                self.stdout.write(f"{org.name}: new data key, {changed} secret row(s) re-encrypted")
        self.stdout.write(self.style.SUCCESS("Done."))

    def _progress(self, line: str) -> None:
        if self.verbosity > 1:
            self.stdout.write(line)
