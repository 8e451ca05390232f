"""The one Settings object.

Read once by entry points (CLI, app factory, worker) via ``get_settings()``; never at import
time, so tests and commands can build their own. Every field is documented in
``.env.example`` (a test enforces it).
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Environment(StrEnum):
    LOCAL = "local"
    TEST = "test"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"
    AUTO = "auto"  # console when stderr is a terminal, else json


DEFAULT_SCRAPER_HASHTAGS = (
    "trending,viral,fyp,comedy,dance,cooking,fitness,fashion,beauty,tech,"
    "education,storytelling,lifehack,motivation"
)
_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "xxx", "todo", "placeholder"}


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # --- core ---
    env: Environment = Field(Environment.LOCAL, validation_alias=_env("VIRTUNA_ENV"))
    data_dir: Path = Field(Path("./var"), validation_alias=_env("VIRTUNA_DATA_DIR"))
    database_url: str | None = Field(None, validation_alias=_env("VIRTUNA_DATABASE_URL"))
    # SQLite waits this long for a writer lock before "database is locked".
    sqlite_busy_timeout_ms: int = Field(
        15_000, ge=0, validation_alias=_env("VIRTUNA_SQLITE_BUSY_TIMEOUT_MS")
    )
    db_pool_size: int = Field(5, ge=1, le=100, validation_alias=_env("VIRTUNA_DB_POOL_SIZE"))
    auto_migrate: bool = Field(True, validation_alias=_env("VIRTUNA_AUTO_MIGRATE"))
    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL"))
    log_format: LogFormat = Field(LogFormat.AUTO, validation_alias=_env("LOG_FORMAT"))
    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))

    # --- HTTP server ---
    host: str = Field("127.0.0.1", validation_alias=_env("VIRTUNA_HOST"))
    port: int = Field(8000, ge=1, le=65535, validation_alias=_env("VIRTUNA_PORT"))
    public_url: str = Field("http://127.0.0.1:8000", validation_alias=_env("VIRTUNA_PUBLIC_URL"))
    # Bodies above this are refused with 413 before they are read (uploads have their own cap).
    max_request_kb: int = Field(1024, ge=1, validation_alias=_env("VIRTUNA_MAX_REQUEST_KB"))
    max_upload_mb: int = Field(200, ge=1, validation_alias=_env("VIRTUNA_MAX_UPLOAD_MB"))
    upload_retention_hours: int = Field(
        0, ge=0, validation_alias=_env("VIRTUNA_UPLOAD_RETENTION_HOURS")
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("VIRTUNA_CORS_ORIGINS")
    )
    # Failed authentications allowed per client address per minute before 429.
    auth_failures_per_minute: int = Field(
        10, ge=1, validation_alias=_env("VIRTUNA_AUTH_FAILURES_PER_MINUTE")
    )

    # --- LLM providers ---
    gemini_api_key: SecretStr | None = Field(None, validation_alias=_env("GEMINI_API_KEY"))
    # 2.5 Flash retires 2026-12-01; the model is a setting so it can follow Google's catalogue.
    gemini_model: str = Field("gemini-3.5-flash", validation_alias=_env("GEMINI_MODEL"))
    gemini_base_url: str | None = Field(None, validation_alias=_env("GEMINI_BASE_URL"))
    deepseek_api_key: SecretStr | None = Field(None, validation_alias=_env("DEEPSEEK_API_KEY"))
    deepseek_model: str = Field("deepseek-flash", validation_alias=_env("DEEPSEEK_MODEL"))
    deepseek_base_url: str = Field(
        "https://api.deepseek.com", validation_alias=_env("DEEPSEEK_BASE_URL")
    )
    openai_compat_base_url: str | None = Field(
        None, validation_alias=_env("OPENAI_COMPAT_BASE_URL")
    )
    openai_compat_api_key: SecretStr | None = Field(
        None, validation_alias=_env("OPENAI_COMPAT_API_KEY")
    )
    openai_compat_model: str | None = Field(None, validation_alias=_env("OPENAI_COMPAT_MODEL"))
    llm_deadline_seconds: float = Field(
        30.0, gt=0, le=600, validation_alias=_env("VIRTUNA_LLM_DEADLINE_SECONDS")
    )

    # --- scraping (Apify) ---
    apify_token: SecretStr | None = Field(None, validation_alias=_env("APIFY_TOKEN"))
    apify_actor_id: str = Field(
        "clockworks~tiktok-scraper", validation_alias=_env("APIFY_ACTOR_ID")
    )
    apify_base_url: str = Field("https://api.apify.com", validation_alias=_env("APIFY_BASE_URL"))
    apify_webhook_secret: SecretStr | None = Field(
        None, validation_alias=_env("APIFY_WEBHOOK_SECRET")
    )
    scraper_hashtags: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: DEFAULT_SCRAPER_HASHTAGS.split(","),
        validation_alias=_env("SCRAPER_HASHTAGS"),
    )

    # --- payments, cron, observability ---
    whop_webhook_secret: SecretStr | None = Field(
        None, validation_alias=_env("WHOP_WEBHOOK_SECRET")
    )
    cron_secret: SecretStr | None = Field(None, validation_alias=_env("CRON_SECRET"))
    sentry_dsn: SecretStr | None = Field(None, validation_alias=_env("SENTRY_DSN"))
    sentry_traces_sample_rate: float = Field(
        0.0, ge=0, le=1, validation_alias=_env("SENTRY_TRACES_SAMPLE_RATE")
    )

    # --- models ---
    model_dir: Path | None = Field(None, validation_alias=_env("VIRTUNA_MODEL_DIR"))

    @field_validator("scraper_hashtags", "cors_origins", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if self.env is not Environment.PRODUCTION:
            return self
        for name in (
            "gemini_api_key",
            "deepseek_api_key",
            "apify_token",
            "apify_webhook_secret",
            "whop_webhook_secret",
            "cron_secret",
        ):
            secret = getattr(self, name)
            if secret is not None and secret.get_secret_value().strip().lower() in _PLACEHOLDERS:
                raise ValueError(f"{name.upper()} holds a placeholder value in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL; SQLite under the data directory by default."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            if url.startswith("sqlite:///"):
                url = "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'virtuna.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for entry points; cached so one process reads its environment once."""
    return Settings()
