"""Typed settings: defaults -> a TOML file (``--config``) -> ``HOTLINE_*`` environment.

Keys are the same in the file and the environment (``ami_host`` in the file
is ``HOTLINE_AMI_HOST`` in the environment). With nothing set, the server
uses the Asterisk sandbox's connection details (its generated secret is read
from ``var/asterisk/ami.json``) and the embedded SQLite database.

A bad value fails at start with the key named, and the file or environment
variable it came from.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from cti.config import paths

ENV_PREFIX = "HOTLINE_"


class ConfigError(Exception):
    """A setting is wrong. The message names the file or variable and the key."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid",
                                      validate_default=True)

    # Asterisk Manager Interface
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(5038, ge=1, le=65535)
    ami_username: str = "hotline-cti"
    ami_secret: SecretStr | None = None
    ami_action_timeout: float = Field(10.0, gt=0, le=300)
    ami_connect_timeout: float = Field(5.0, gt=0, le=60)
    ami_ping_interval: float = Field(10.0, gt=0, le=600)

    # service database
    database_url: str = ""
    # PostgreSQL's connection pool: the IVR's look-ups, the call records and the
    # REST API share it; a request waits at most database_pool_timeout seconds
    # for a connection (the IVR waits 1 s at most for its look-up, whatever this is).
    # Connections past the pool size are opened for one use and closed: under a
    # burst that is a new connection (TCP, TLS attempt, login) per look-up, so
    # the pool is sized for the busy hour and overflow is off by default
    database_pool_size: int = Field(20, ge=1, le=200)
    database_max_overflow: int = Field(0, ge=0, le=200)
    database_pool_timeout: float = Field(5.0, gt=0, le=60)

    # HTTP (REST API, websockets, pages)
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    # origins besides the server's own address that may send signed-in browser
    # requests (a reverse proxy's public name: "https://hotline.example.com")
    trusted_origins: list[str] = Field(default_factory=list)

    # FastAGI server the dialplan's AGI() reaches
    agi_host: str = "127.0.0.1"
    agi_port: int = Field(4573, ge=0, le=65535)

    # the event loop's thread: "realtime" (SCHED_FIFO, the lowest real-time
    # priority) so that it runs as soon as it wakes on a machine Asterisk keeps
    # busy; "normal" leaves it to the kernel's share (cti/config/scheduling.py)
    loop_scheduling: Literal["realtime", "normal"] = "realtime"

    # logging
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    var_dir: Path = Field(default_factory=paths.var_dir)

    # call recordings: where Asterisk's MixMonitor writes them (<its spool
    # dir>/monitor/hotline/), as this server sees that directory; unset: the
    # sandbox's. Files older than recording_retention_days are removed.
    recordings_dir: Path | None = None
    recording_retention_days: int = Field(90, ge=1, le=3650)

    # where Asterisk finds its sounds (the prompts go to <sounds_dir>/hotline/<lang>/);
    # unset: the sandbox's
    sounds_dir: Path | None = None

    # the IVR's menus (ivr/menus.yaml unless given)
    ivr_menus: Path = Field(default_factory=lambda: paths.PROJECT_ROOT / "ivr" / "menus.yaml")

    # queues and skills (acd/queues.yaml unless given)
    acd_config: Path = Field(default_factory=lambda: paths.PROJECT_ROOT / "acd" / "queues.yaml")

    # calls the hotline places: the site's calendar and retries
    # (cti/outbound/outbound.yaml unless given)
    outbound_config: Path = Field(
        default_factory=lambda: paths.PROJECT_ROOT / "cti" / "outbound" / "outbound.yaml")

    # the site: times typed without a zone (appointment windows) are in this
    # zone; 8-digit local numbers get this area code
    site_timezone: str = "Asia/Shanghai"
    local_area_code: str | None = Field(None, pattern=r"^0\d{2,3}$")

    # an external CRM that gets each screen pop's card as a signed webhook
    # (HMAC-SHA256 with the secret; set it in HOTLINE_CRM_WEBHOOK_SECRET)
    crm_webhook_url: str | None = Field(None, pattern=r"^https?://\S+$")
    # /metrics for a Prometheus server: it sends this as a bearer token (set it
    # in HOTLINE_METRICS_TOKEN); unset, only signed-in supervisors read it
    metrics_token: SecretStr | None = None
    crm_webhook_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.crm_webhook_url and not self.crm_webhook_secret:
            raise ValueError("crm_webhook_secret: needed when crm_webhook_url is set "
                             "(set HOTLINE_CRM_WEBHOOK_SECRET)")
        if self.crm_webhook_secret and len(self.crm_webhook_secret.get_secret_value()) < 16:
            raise ValueError("crm_webhook_secret: at least 16 characters")
        return self

    @field_validator("site_timezone")
    @classmethod
    def _check_tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as "
                             f"Asia/Shanghai)") from None
        return v

    @field_validator("database_url")
    @classmethod
    def _check_db_url(cls, v: str) -> str:
        if v and not v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the environment beats the file (passed in as init values)
        return (env_settings, init_settings)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.var_dir / 'hotline.db'}"

    @property
    def effective_recordings_dir(self) -> Path:
        return self.recordings_dir or paths.sandbox_spool(self.var_dir) / "monitor" / "hotline"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the file and the environment, or raise ConfigError."""
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            file_values = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {config_file}: not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file}: not valid TOML: {exc}") from None
        for key, value in file_values.items():
            if isinstance(value, dict):
                raise ConfigError(
                    f"config file {config_file}: key '{key}': sections are not used; "
                    f"write flat keys such as ami_host"
                )
    values = {**file_values, **overrides}
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, config_file, file_values)) from None


def _explain(exc: ValidationError, config_file: Path | None, file_values: dict[str, Any]) -> str:
    lines = []
    for err in exc.errors():
        if not err["loc"]:  # a check across settings: its message names them
            lines.append(f"setting {err['msg'].removeprefix('Value error, ')}")
            continue
        key = str(err["loc"][0])
        env_name = ENV_PREFIX + key.upper()
        if env_name in os.environ:
            where = f"environment variable {env_name}"
        elif err["type"] == "extra_forbidden" and config_file is not None:
            where = f"config file {config_file}: unknown key '{key}'"
        elif config_file is not None and key in file_values:
            where = f"config file {config_file}: key '{key}'"
        else:
            where = f"setting '{key}'"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "not a setting of the hotline server"
        lines.append(f"{where}: {msg}")
    return "; ".join(lines)
