"""`manage.py create_api_key USERNAME [--label L]`: prints only the new key."""

from django.core.management.base import BaseCommand, CommandError

from accounts import selectors, services
from accounts.audit import SYSTEM
from accounts.models import User


class Command(BaseCommand):
    help = "Create an API key for a user and print it (only the key, once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--label", default="created with manage.py")
        parser.add_argument("--read-only", action="store_true")
        parser.add_argument("--org", help="Restrict the key to this organization.")

    def handle(self, *args, username, label, read_only, org, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        organization = None
        if org:
            organization = selectors.organizations_for_user(user=user).filter(name=org).first()
            if organization is None:
                raise CommandError(f"{username} is not a member of an organization named {org!r}.")
        _, plaintext = services.apikey_create(
            actor=SYSTEM, user=user, label=label, read_only=read_only, organization=organization
        )
        self.stdout.write(plaintext)
