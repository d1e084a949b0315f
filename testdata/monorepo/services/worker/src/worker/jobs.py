"""Job scheduling helpers."""

from core.models import Item
from util.durations import parse_duration
from util.strings import truncate


def backoff_schedule(base: str, attempts: int, cap: str = "1h") -> list[int]:
    """Seconds to wait before each retry: base doubled each time, capped."""
    first, limit = parse_duration(base), parse_duration(cap)
    return [min(first * 2**n, limit) for n in range(attempts)]


def index_line(item: Item, width: int = 24) -> str:
    """One line of the search index for item."""
    return f"{item.slug}\t{truncate(item.title, width)}"
