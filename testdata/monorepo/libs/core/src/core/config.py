"""Settings read from the package's data/config.json."""

import json
from pathlib import Path

from util.durations import parse_duration

CONFIG_PATH = Path(__file__).resolve().parents[2] / "data" / "config.json"


def load_config(path: Path = CONFIG_PATH) -> dict[str, object]:
    """Load the settings, with durations converted to seconds."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["cache_ttl_seconds"] = parse_duration(raw.pop("cache_ttl"))
    return raw
