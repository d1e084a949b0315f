from web.app import App


def test_routes() -> None:
    app = App()
    assert app.handle("POST", "/items", {"title": "Tea Pot", "price_cents": 2500})[0] == 201
    status, body = app.handle("GET", "/items/tea-pot")
    assert (status, body["title"]) == (200, "Tea Pot")
    assert app.handle("DELETE", "/items/tea-pot")[0] == 405
    assert app.handle("GET", "/users")[0] == 404
