from core import Item


def test_slug_comes_from_title() -> None:
    assert Item("Blue Mug", 1299).slug == "blue-mug"


def test_with_tag_is_sorted_and_unique() -> None:
    item = Item("Mug", 500).with_tag("kitchen").with_tag("blue").with_tag("kitchen")
    assert item.tags == ("blue", "kitchen")
