"""`manage.py deactivate_user USERNAME`: the user can no longer log in or use their keys, and
every live socket they hold closes."""

from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.audit import SYSTEM
from accounts.models import User


class Command(BaseCommand):
    help = "Deactivate a user: logins and API keys are refused and their live sockets close."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        services.user_deactivate(actor=SYSTEM, user=user)
        self.stdout.write(f"Deactivated {username}.")
