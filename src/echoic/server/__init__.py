"""The HTTP and WebSocket server: ``create_app(settings, engines, store)`` builds it."""

from echoic.server.app import create_app

__all__ = ["create_app"]
