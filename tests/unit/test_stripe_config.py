"""Stripe settings: read only in app/config.py, with Stripe's own API base by default."""
import pytest

from app.config import ConfigError, load_config

PRODUCTION = {"GPUBRIDGE_ENV": "production", "GPUBRIDGE_SECRET_KEY": "s" * 32,
              "DATABASE_URL": "postgresql://db/x", "REDIS_URL": "redis://r/0",
              "GPUBRIDGE_VAR_DIR": "/nonexistent"}


def test_defaults_are_off_and_the_base_is_stripes():
    config = load_config({"GPUBRIDGE_VAR_DIR": "/nonexistent"})
    assert (config["STRIPE_SECRET_KEY"], config["STRIPE_WEBHOOK_SECRET"]) == (None, None)
    assert config["STRIPE_API_BASE"] == "https://api.stripe.com"


def test_production_refuses_card_payments_without_a_webhook_secret():
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        load_config({**PRODUCTION, "STRIPE_SECRET_KEY": "sk_live_x"})
    config = load_config({**PRODUCTION, "STRIPE_SECRET_KEY": "sk_live_x",
                          "STRIPE_WEBHOOK_SECRET": "whsec_x",
                          "STRIPE_API_BASE": "http://127.0.0.1:12111"})
    assert config["STRIPE_API_BASE"] == "http://127.0.0.1:12111"
