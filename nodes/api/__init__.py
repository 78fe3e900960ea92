"""Docker Cloud API v1 for nodes, tokens and actions (see nodes/api_urls.py for the routes)."""

from .nodes import node_body, node_uri

__all__ = ["node_body", "node_uri"]
