from django.apps import AppConfig


class AgentapiConfig(AppConfig):
    name = "agentapi"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from core import crypto
        from nodes import agent_bundle

        from .install import Bundle
        from .models import SECRET_FIELDS

        # The node layer boots provider hosts and upgrades agents with the agent served here.
        agent_bundle.register(Bundle())

        # Key rotation re-encrypts these rows too.
        crypto.register_master_encrypted("agentapi.SshInstall", *SECRET_FIELDS)
