from core.models import Item
from worker.jobs import backoff_schedule, index_line


def test_backoff_doubles_and_caps() -> None:
    assert backoff_schedule("30s", 4) == [30, 60, 120, 240]
    assert backoff_schedule("40m", 3) == [2400, 3600, 3600]


def test_index_line() -> None:
    item = Item("A very long title for a small mug", 100)
    assert index_line(item, width=10) == "a-very-long-title-for-a-small-mug\tA very ..."
