from django.apps import AppConfig


class AgentapiConfig(AppConfig):
    name = "agentapi"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from core import crypto

        from .models import SECRET_FIELDS

        # Key rotation re-encrypts these rows too.
        crypto.register_master_encrypted("agentapi.SshInstall", *SECRET_FIELDS)
