"""The web page and JSON API (``trackdelivery serve``): ``create_app(db_path, config)`` builds it."""

from .app import create_app

__all__ = ["create_app"]
