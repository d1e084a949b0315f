"""Domain objects."""

from dataclasses import dataclass, field

from util.strings import slugify


@dataclass(frozen=True)
class Item:
    """A catalog item; its slug is derived from its title."""

    title: str
    price_cents: int
    tags: tuple[str, ...] = field(default=())

    @property
    def slug(self) -> str:
        return slugify(self.title)

    def with_tag(self, tag: str) -> "Item":
        """Return a copy that also carries tag (kept sorted, no duplicates)."""
        return Item(self.title, self.price_cents, tuple(sorted({*self.tags, tag})))
