"""Reading YAML documents with PyYAML's safe loader, nesting bounded.

PyYAML's scanner does work quadratic in the depth of flow collections (``[[[...``)
and its composer recurses once per level, so a few thousand levels take seconds and
fifty thousand exhaust the stack. No manifest or lockfile nests anywhere near
``MAX_DEPTH`` levels; deeper is a YAML error at the line where the limit is passed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

MAX_DEPTH = 100
TOO_DEEP = f"nested too deeply to read (more than {MAX_DEPTH} levels)"


def load_all(text: str) -> list[Any]:
    """Every document of ``text``; raises ``yaml.YAMLError`` (marked with its line)."""
    import yaml

    return list(yaml.load_all(text, Loader=_loader()))


def load(text: str) -> Any:
    """The single document of ``text``; raises ``yaml.YAMLError`` (marked with its line)."""
    import yaml

    return yaml.load(text, Loader=_loader())


@lru_cache(maxsize=1)
def _loader() -> type[Any]:
    """A SafeLoader subclass that refuses to nest past MAX_DEPTH (built on first use,
    so that importing this module does not import PyYAML)."""
    import yaml
    from yaml.scanner import ScannerError

    class BoundedLoader(yaml.SafeLoader):
        def fetch_flow_collection_start(self, TokenClass: Any) -> None:
            if self.flow_level + len(self.indents) >= MAX_DEPTH:
                raise ScannerError(None, None, TOO_DEEP, self.get_mark())
            super().fetch_flow_collection_start(TokenClass)

        def add_indent(self, column: int) -> bool:
            if self.flow_level + len(self.indents) >= MAX_DEPTH:
                raise ScannerError(None, None, TOO_DEEP, self.get_mark())
            return bool(super().add_indent(column))

    return BoundedLoader
