"""Routes method + path to the API handlers."""

from api.handlers import Catalog, Response


class App:
    """A tiny router over one Catalog."""

    def __init__(self) -> None:
        self.catalog = Catalog()

    def handle(self, method: str, path: str, body: dict[str, object] | None = None) -> Response:
        parts = [p for p in path.split("/") if p]
        if parts[:1] != ["items"]:
            return 404, {"error": f"no route for {path}"}
        if method == "POST" and len(parts) == 1:
            return self.catalog.create(body or {})
        if method == "GET" and len(parts) == 2:
            return self.catalog.get(parts[1])
        return 405, {"error": f"{method} not allowed on {path}"}
