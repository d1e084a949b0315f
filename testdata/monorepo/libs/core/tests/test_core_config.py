from core.config import load_config


def test_load_config_converts_durations() -> None:
    config = load_config()
    assert config["currency"] == "EUR"
    assert config["cache_ttl_seconds"] == 300
    assert "cache_ttl" not in config
