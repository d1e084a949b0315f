"""Handlers take a request dict and return (status, body)."""

from core.models import Item

from .serialize import item_from_dict, item_to_dict

Response = tuple[int, dict[str, object]]


class Catalog:
    """An in-memory catalog keyed by slug."""

    def __init__(self) -> None:
        self._items: dict[str, Item] = {}

    def create(self, body: dict[str, object]) -> Response:
        try:
            item = item_from_dict(body)
        except (KeyError, ValueError) as exc:
            return 400, {"error": f"bad item: {exc}"}
        if item.slug in self._items:
            return 409, {"error": f"{item.slug} exists"}
        self._items[item.slug] = item
        return 201, item_to_dict(item)

    def get(self, slug: str) -> Response:
        item = self._items.get(slug)
        if item is None:
            return 404, {"error": f"no item {slug}"}
        return 200, item_to_dict(item)
