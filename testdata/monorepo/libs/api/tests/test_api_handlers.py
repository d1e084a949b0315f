from api.handlers import Catalog


def test_create_then_get() -> None:
    catalog = Catalog()
    status, body = catalog.create({"title": "Blue Mug", "price_cents": 1299})
    assert status == 201
    assert body["slug"] == "blue-mug"
    assert catalog.get("blue-mug") == (200, body)


def test_errors() -> None:
    catalog = Catalog()
    assert catalog.create({"price_cents": 1})[0] == 400
    assert catalog.get("nope")[0] == 404
    catalog.create({"title": "A", "price_cents": 1})
    assert catalog.create({"title": "a", "price_cents": 2})[0] == 409
