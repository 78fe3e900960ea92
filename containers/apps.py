from django.apps import AppConfig


class ContainersConfig(AppConfig):
    name = "containers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from nodes import hooks, reaper

        from .services import container_settle, containers_end_with_node

        hooks.on_ended(containers_end_with_node)
        reaper.register_recovery("Container ", container_settle)
