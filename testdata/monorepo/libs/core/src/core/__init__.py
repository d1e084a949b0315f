"""The domain model shared by the API and the services."""

from core.models import Item

__all__ = ["Item"]
