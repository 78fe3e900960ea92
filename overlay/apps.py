from django.apps import AppConfig


class OverlayConfig(AppConfig):
    name = "overlay"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from nodes import hooks
        from providers.crypto import register_org_encrypted

        from . import services, tasks
        from .models import SECRET_FIELDS

        # Data key rotation and export re-encrypt the join tokens too.
        register_org_encrypted("overlay.OrgOverlay", *SECRET_FIELDS)
        hooks.on_deployed(tasks.queue_node_org)
        hooks.on_ending(services.member_leave_hook)
        hooks.on_ended(tasks.queue_after_end)
