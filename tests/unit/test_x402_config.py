"""x402 settings: off by default; production takes USDC only with a sanctions oracle."""
import pytest

from app.config import BASE_USDC, ConfigError, load_config

PROD = {"GPUBRIDGE_ENV": "production", "GPUBRIDGE_SECRET_KEY": "s3cret",
        "DATABASE_URL": "postgresql://db/x", "REDIS_URL": "redis://r", "GPUBRIDGE_VAR_DIR": "/nonexistent"}
WALLET = "0xB0FdC6030B9f30652e8B221B8090d443Dd3C6381"


def test_defaults_are_base_usdc_and_x402_off():
    config = load_config({"GPUBRIDGE_VAR_DIR": "/nonexistent"})
    assert config["X402_PAY_TO"] is None and config["X402_CHAIN_ID"] == 8453
    assert config["X402_USDC_ADDRESS"] == BASE_USDC and config["X402_NETWORK"] == "base"


def test_production_refuses_usdc_without_a_sanctions_oracle():
    with pytest.raises(ConfigError, match="X402_SANCTIONS_ORACLE"):
        load_config({**PROD, "X402_PAY_TO": WALLET})
    config = load_config({**PROD, "X402_PAY_TO": WALLET, "X402_SANCTIONS_ORACLE": WALLET})
    assert config["X402_SANCTIONS_ORACLE"] == WALLET


def test_development_runs_without_an_oracle():
    config = load_config({"X402_PAY_TO": WALLET, "GPUBRIDGE_VAR_DIR": "/nonexistent"})
    assert config["X402_SANCTIONS_ORACLE"] is None
