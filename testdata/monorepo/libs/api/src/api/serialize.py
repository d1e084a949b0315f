"""Item <-> JSON-ready dict."""

from core.models import Item


def item_to_dict(item: Item) -> dict[str, object]:
    return {
        "slug": item.slug,
        "title": item.title,
        "price_cents": item.price_cents,
        "tags": list(item.tags),
    }


def item_from_dict(data: dict[str, object]) -> Item:
    tags = data.get("tags", [])
    if not isinstance(tags, list):
        raise ValueError("tags must be a list")
    return Item(str(data["title"]), int(str(data["price_cents"])), tuple(map(str, tags)))
