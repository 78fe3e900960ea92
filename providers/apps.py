from django.apps import AppConfig
from django.conf import settings


class ProvidersConfig(AppConfig):
    name = "providers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import permissions

        from . import selectors

        # The access policy learns which credentials a caller's teams were granted from here.
        permissions.register_grant_source(selectors.granted_credentials)
        if settings.PRODUCTION:
            from core import crypto

            # Production refuses to start without its encryption keys (or with a bad one).
            crypto.check_keys()
