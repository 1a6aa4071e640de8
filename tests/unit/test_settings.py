"""Settings: defaults -> TOML file -> HOTLINE_* environment; errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.config.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("HOTLINE_") and key != "HOTLINE_VAR_DIR":
            monkeypatch.delenv(key)


def test_defaults_point_at_the_sandbox_and_embedded_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_VAR_DIR", str(tmp_path))
    s = load_settings()
    assert (s.ami_host, s.ami_port, s.ami_username) == ("127.0.0.1", 5038, "hotline-cti")
    assert s.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"


def test_environment_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text('ami_host = "10.1.2.3"\nhttp_port = 9000\n')
    monkeypatch.setenv("HOTLINE_HTTP_PORT", "9100")
    s = load_settings(cfg)
    assert s.ami_host == "10.1.2.3" and s.http_port == 9100


def test_bad_value_in_file_names_file_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text('ami_port = "five"\n')
    with pytest.raises(ConfigError, match=r"config file .*hotline.toml: key 'ami_port'"):
        load_settings(cfg)


def test_bad_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_HTTP_PORT", "99999")
    with pytest.raises(ConfigError, match="environment variable HOTLINE_HTTP_PORT"):
        load_settings()


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text('ami_hots = "x"\n')
    with pytest.raises(ConfigError, match="unknown key 'ami_hots'"):
        load_settings(cfg)


def test_wrong_database_scheme_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", "mysql://x")
    with pytest.raises(ConfigError, match=r"HOTLINE_DATABASE_URL.*postgresql\+asyncpg"):
        load_settings()


def test_site_zone_and_area_code_are_checked(tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text('site_timezone = "Asia/Hangzou"\nlocal_area_code = "571"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "key 'site_timezone': Value error, unknown time zone 'Asia/Hangzou'" in str(err.value)
    assert "key 'local_area_code'" in str(err.value)
    cfg.write_text('site_timezone = "Asia/Urumqi"\nlocal_area_code = "0571"\n')
    s = load_settings(cfg)
    assert (s.site_timezone, s.local_area_code) == ("Asia/Urumqi", "0571")


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text("ami_host = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_secret_never_shows_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "s3cret-value")
    s = load_settings()
    assert s.ami_secret is not None and s.ami_secret.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(s) and "s3cret-value" not in str(s)


def test_a_webhook_url_without_its_secret_is_refused_naming_both(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOTLINE_CRM_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match=r"crm_webhook_secret.*crm_webhook_url"):
        load_settings(crm_webhook_url="https://crm.example/hooks/pop")
    with pytest.raises(ConfigError, match="at least 16"):
        load_settings(crm_webhook_url="https://crm.example/hooks/pop",
                      crm_webhook_secret="short")
    with pytest.raises(ConfigError, match="crm_webhook_url"):
        load_settings(crm_webhook_url="crm.example/hooks", crm_webhook_secret="x" * 20)
    ok = load_settings(crm_webhook_url="https://crm.example/hooks/pop",
                       crm_webhook_secret="x" * 20)
    assert "x" * 20 not in repr(ok)
