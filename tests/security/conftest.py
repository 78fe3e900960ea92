"""Security tests use the provider stand-ins too (a DigitalOcean API on a local port)."""

from ..providers.conftest import do_api, do_token

__all__ = ["do_api", "do_token"]
