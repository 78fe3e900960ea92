"""`manage.py serve`: the whole product in one process (portal, API, websockets, tasks)."""

import secrets

import uvicorn
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.clientip import is_loopback
from core.wsdeflate import FastDeflateWebSocketProtocol


class Command(BaseCommand):
    help = "Serve the portal, API and websockets (and, embedded, the Celery worker and beat)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--host", default=None, help="Address to bind (default: DC_BIND_HOST, 127.0.0.1)."
        )
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-admin", action="store_true", help="Skip the first-run admin.")

    def handle(self, *args, host, port, no_admin, **options):
        host = host or settings.DC_BIND_HOST
        self._check_exposure(host)
        if not no_admin:
            self._first_run_admin()
        from celery import current_app  # the project's app (dockercloud/celery.py)

        # A proxy to the app dockercloud/celery.py made; the stubs type it as the app itself.
        app = current_app._get_current_object()  # type: ignore[attr-defined]

        contexts = []
        # With a Redis broker, workers and beat are their own processes (`make worker`,
        # `make beat`): several worker controllers in one process were seen to stop consuming.
        if settings.EMBEDDED:
            from core.embedded import start_embedded_celery

            contexts = start_embedded_celery(app)
        self.stdout.write(f"dockercloud on http://{host}:{port}/ ({self._topology()})")
        try:
            uvicorn.run(
                "dockercloud.asgi:application",
                host=host,
                port=port,
                log_level="info",
                ws_ping_interval=20,
                ws=FastDeflateWebSocketProtocol,  # browsers' frames compressed cheaply
                lifespan="off",
                # The access log goes through settings.LOGGING (credentials redacted).
                log_config=None,
                # Forwarded addresses are read by core.clientip, from DC_TRUSTED_PROXIES only;
                # uvicorn's own handling trusts 127.0.0.1 by default.
                proxy_headers=False,
            )
        finally:
            if contexts:
                from core.embedded import stop_embedded_celery

                stop_embedded_celery(contexts)

    def _check_exposure(self, host: str) -> None:
        """Settings made for a loopback bind (DEBUG, any Host name) must not face a network."""
        if is_loopback(host) or not (settings.DEBUG or "*" in settings.ALLOWED_HOSTS):
            return
        raise CommandError(
            f"Refusing to serve on {host} with settings made for a loopback bind (DEBUG on, "
            f"every Host name accepted). Set DC_BIND_HOST={host} and DC_PUBLIC_URL (or "
            f"DC_ALLOWED_HOSTS); `make run HOST={host}` sets DC_BIND_HOST."
        )

    def _topology(self) -> str:
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        broker = "in-process Celery" if settings.EMBEDDED else "Redis broker"
        return f"database {db}, {broker}"

    def _first_run_admin(self) -> None:
        """Create an admin account the first time, and print its login once."""
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username="admin", email="admin@localhost", password=password)
        line = "=" * 64
        self.stdout.write(
            f"{line}\nFirst run: created the admin account.\n"
            f"  username: admin\n  password: {password}\n"
            f"Log in and change the password; this is the only time it is shown.\n{line}"
        )
