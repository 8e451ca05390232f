"""The one Settings object.

Read once by entry points (CLI, app factory, worker) via ``get_settings()``; never at import
time, so tests and commands can build their own. Every field is documented in
``.env.example`` (a test enforces it).
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

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
    # Longest video accepted for analysis (longer uploads get 422 naming the field).
    max_video_seconds: float = Field(
        600.0, gt=0, le=24 * 3600, validation_alias=_env("VIRTUNA_MAX_VIDEO_SECONDS")
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
    # Which providers play each role, tried in order; unconfigured ones are skipped, an empty
    # list switches the role off. Reasoning prefers another model family than content analysis.
    llm_content_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["gemini", "deepseek", "openai_compat"],
        validation_alias=_env("VIRTUNA_LLM_CONTENT_PROVIDERS"),
    )
    llm_reasoning_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["deepseek", "gemini", "openai_compat"],
        validation_alias=_env("VIRTUNA_LLM_REASONING_PROVIDERS"),
    )
    llm_rules_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["gemini", "deepseek", "openai_compat"],
        validation_alias=_env("VIRTUNA_LLM_RULES_PROVIDERS"),
    )
    # Our own retry per provider (SDK retries are off): 0 or 1, so ≤ 2 upstream attempts.
    llm_max_retries: int = Field(1, ge=0, le=1, validation_alias=_env("VIRTUNA_LLM_MAX_RETRIES"))
    # Consecutive failures that open a provider's breaker, and how long it stays open.
    llm_breaker_threshold: int = Field(
        5, ge=1, validation_alias=_env("VIRTUNA_LLM_BREAKER_THRESHOLD")
    )
    llm_breaker_cooldown_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("VIRTUNA_LLM_BREAKER_COOLDOWN_SECONDS")
    )
    # tiktok_url mode: the oEmbed endpoint, short-link redirects followed (each re-checked
    # against the TikTok allowlist), and the time allowed for the whole resolution.
    tiktok_oembed_url: str = Field(
        "https://www.tiktok.com/oembed", validation_alias=_env("VIRTUNA_TIKTOK_OEMBED_URL")
    )
    tiktok_max_redirects: int = Field(
        3, ge=0, le=10, validation_alias=_env("VIRTUNA_TIKTOK_MAX_REDIRECTS")
    )
    tiktok_resolve_timeout_seconds: float = Field(
        5.0, gt=0, le=60, validation_alias=_env("VIRTUNA_TIKTOK_RESOLVE_TIMEOUT_SECONDS")
    )
    # Per-attempt timeouts: below half the deadline, so a hung provider leaves time to fall back.
    gemini_timeout_seconds: float = Field(
        12.0, gt=0, validation_alias=_env("GEMINI_TIMEOUT_SECONDS")
    )
    gemini_max_output_tokens: int = Field(
        2048, ge=64, validation_alias=_env("GEMINI_MAX_OUTPUT_TOKENS")
    )
    # Videos up to this size go inline with the request; larger ones through the Files API.
    gemini_inline_video_max_mb: float = Field(
        20.0, ge=0, le=100, validation_alias=_env("GEMINI_INLINE_VIDEO_MAX_MB")
    )
    # One attempt that carries a video (upload, processing, answer); still cut to the deadline.
    gemini_video_timeout_seconds: float = Field(
        25.0, gt=0, validation_alias=_env("GEMINI_VIDEO_TIMEOUT_SECONDS")
    )
    gemini_file_poll_seconds: float = Field(
        1.0, gt=0, le=30, validation_alias=_env("GEMINI_FILE_POLL_SECONDS")
    )
    # USD per 1M tokens for GEMINI_MODEL (3.5 Flash list price, INTEGRATIONS.md §2d). No cached
    # rate is published for it in our reference, so cached input is billed as fresh input.
    gemini_price_input_per_m: float = Field(
        1.50, ge=0, validation_alias=_env("GEMINI_PRICE_INPUT_PER_M")
    )
    gemini_price_cached_input_per_m: float = Field(
        1.50, ge=0, validation_alias=_env("GEMINI_PRICE_CACHED_INPUT_PER_M")
    )
    gemini_price_output_per_m: float = Field(
        9.00, ge=0, validation_alias=_env("GEMINI_PRICE_OUTPUT_PER_M")
    )
    deepseek_timeout_seconds: float = Field(
        12.0, gt=0, validation_alias=_env("DEEPSEEK_TIMEOUT_SECONDS")
    )
    deepseek_max_output_tokens: int = Field(
        2048, ge=64, validation_alias=_env("DEEPSEEK_MAX_OUTPUT_TOKENS")
    )
    # deepseek-flash off-peak prices (cache miss / cache hit / output); peak hours multiply.
    deepseek_price_input_per_m: float = Field(
        0.15, ge=0, validation_alias=_env("DEEPSEEK_PRICE_INPUT_PER_M")
    )
    deepseek_price_cached_input_per_m: float = Field(
        0.003, ge=0, validation_alias=_env("DEEPSEEK_PRICE_CACHED_INPUT_PER_M")
    )
    deepseek_price_output_per_m: float = Field(
        0.60, ge=0, validation_alias=_env("DEEPSEEK_PRICE_OUTPUT_PER_M")
    )
    deepseek_peak_multiplier: float = Field(
        2.0, ge=1, validation_alias=_env("DEEPSEEK_PEAK_MULTIPLIER")
    )
    # Self-hosted models are slower per token than hosted APIs, hence the longer timeout.
    openai_compat_timeout_seconds: float = Field(
        20.0, gt=0, validation_alias=_env("OPENAI_COMPAT_TIMEOUT_SECONDS")
    )
    openai_compat_max_output_tokens: int = Field(
        2048, ge=64, validation_alias=_env("OPENAI_COMPAT_MAX_OUTPUT_TOKENS")
    )
    # json_schema (vLLM, Ollama, LM Studio, OpenAI), json_object, or none (prompt only).
    openai_compat_json_mode: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema", validation_alias=_env("OPENAI_COMPAT_JSON_MODE")
    )
    # A self-hosted server costs nothing per token; set these for a paid endpoint.
    openai_compat_price_input_per_m: float = Field(
        0.0, ge=0, validation_alias=_env("OPENAI_COMPAT_PRICE_INPUT_PER_M")
    )
    openai_compat_price_cached_input_per_m: float = Field(
        0.0, ge=0, validation_alias=_env("OPENAI_COMPAT_PRICE_CACHED_INPUT_PER_M")
    )
    openai_compat_price_output_per_m: float = Field(
        0.0, ge=0, validation_alias=_env("OPENAI_COMPAT_PRICE_OUTPUT_PER_M")
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
    # Videos per hashtag (the actor's resultsPerPage) and a cap on the whole run's items,
    # which also caps pay-per-result cost.
    apify_results_per_page: int = Field(
        100, ge=1, le=10_000, validation_alias=_env("APIFY_RESULTS_PER_PAGE")
    )
    apify_max_items: int = Field(2000, ge=1, validation_alias=_env("APIFY_MAX_ITEMS"))
    # Run memory (MB, a power of two >= 128) and the run's own timeout on Apify's side.
    apify_memory_mb: int = Field(1024, ge=128, le=32_768, validation_alias=_env("APIFY_MEMORY_MB"))
    apify_timeout_seconds: int = Field(
        3600, ge=60, le=86_400, validation_alias=_env("APIFY_TIMEOUT_SECONDS")
    )
    # Creator profiles: videos scraped per profile, how old a creator's data may get before a
    # draft naming it (or the refresh-competitors job) re-scrapes it, and a per-run cap.
    apify_profile_results: int = Field(
        30, ge=1, le=1000, validation_alias=_env("APIFY_PROFILE_RESULTS")
    )
    creator_stale_days: int = Field(
        7, ge=1, le=365, validation_alias=_env("VIRTUNA_CREATOR_STALE_DAYS")
    )
    refresh_competitors_max_profiles: int = Field(
        50, ge=1, le=1000, validation_alias=_env("VIRTUNA_REFRESH_COMPETITORS_MAX_PROFILES")
    )

    # --- trends ---
    # Rolling window lengths (days) the trends job computes; each is cut into 6 buckets.
    trends_windows_days: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [1, 7, 30], validation_alias=_env("TRENDS_WINDOWS_DAYS")
    )
    # Entries kept per kind and window in one snapshot (the engine reads the top 200/300).
    trends_top_n: int = Field(500, ge=10, le=20_000, validation_alias=_env("TRENDS_TOP_N"))
    # Snapshots computed longer ago than this are deleted (the newest one is always kept).
    trends_retention_days: int = Field(14, ge=1, validation_alias=_env("TRENDS_RETENTION_DAYS"))

    # --- payments, cron, observability ---
    whop_webhook_secret: SecretStr | None = Field(
        None, validation_alias=_env("WHOP_WEBHOOK_SECRET")
    )
    cron_secret: SecretStr | None = Field(None, validation_alias=_env("CRON_SECRET"))
    sentry_dsn: SecretStr | None = Field(None, validation_alias=_env("SENTRY_DSN"))
    sentry_traces_sample_rate: float = Field(
        0.0, ge=0, le=1, validation_alias=_env("SENTRY_TRACES_SAMPLE_RATE")
    )
    # Draft text is user content: it reaches Sentry only when explicitly allowed.
    sentry_send_draft_text: bool = Field(False, validation_alias=_env("SENTRY_SEND_DRAFT_TEXT"))
    # Bearer token for GET /metrics; unset = /metrics is public (bind it to a private network).
    metrics_token: SecretStr | None = Field(None, validation_alias=_env("VIRTUNA_METRICS_TOKEN"))
    # Signs the admin dashboard's session cookie; unset = a random key per process (sessions
    # then end on restart and only work on the process that issued them).
    session_secret: SecretStr | None = Field(None, validation_alias=_env("VIRTUNA_SESSION_SECRET"))
    whop_api_key: SecretStr | None = Field(None, validation_alias=_env("WHOP_API_KEY"))
    whop_api_base_url: str = Field(
        "https://api.whop.com", validation_alias=_env("WHOP_API_BASE_URL")
    )
    # Whop product or plan id -> our plan, "prod_x:starter,plan_y:pro"; unknown ids -> free.
    whop_plan_map: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("WHOP_PLAN_MAP")
    )
    # Successful analyses per UTC day by plan; "unlimited" (or -1) lifts the cap.
    plan_daily_quotas: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: {"free": 5, "starter": 50, "pro": -1},
        validation_alias=_env("VIRTUNA_PLAN_DAILY_QUOTAS"),
    )
    # Scoring requests per API key per minute by plan (burst protection, separate from quota).
    plan_rate_limits: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: {"free": 10, "starter": 30, "pro": 120},
        validation_alias=_env("VIRTUNA_PLAN_RATE_LIMITS"),
    )

    # --- background jobs ---
    # Run the job worker and scheduler inside `virtuna serve`; unset = yes on SQLite
    # (single-host default) except in the test environment, no on PostgreSQL.
    embedded_worker: bool | None = Field(None, validation_alias=_env("VIRTUNA_EMBEDDED_WORKER"))
    jobs_concurrency: int = Field(2, ge=1, le=64, validation_alias=_env("VIRTUNA_JOBS_CONCURRENCY"))
    # How often an idle worker looks for due jobs.
    jobs_poll_seconds: float = Field(
        1.0, gt=0, le=60, validation_alias=_env("VIRTUNA_JOBS_POLL_SECONDS")
    )
    # A running job's heartbeat period, and the silence after which it counts as stalled.
    jobs_heartbeat_seconds: float = Field(
        10.0, gt=0, validation_alias=_env("VIRTUNA_JOBS_HEARTBEAT_SECONDS")
    )
    jobs_stalled_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("VIRTUNA_JOBS_STALLED_SECONDS")
    )
    # How often each worker sweeps for stalled jobs (and runs never handed to the engine).
    jobs_sweep_seconds: float = Field(
        15.0, gt=0, validation_alias=_env("VIRTUNA_JOBS_SWEEP_SECONDS")
    )
    # On SIGTERM, how long running jobs get to finish before they are put back in the queue.
    jobs_shutdown_grace_seconds: float = Field(
        30.0, ge=0, validation_alias=_env("VIRTUNA_JOBS_SHUTDOWN_GRACE_SECONDS")
    )
    # A scheduler starting late still runs the latest missed slot if it is at most this old.
    jobs_schedule_catchup_seconds: float = Field(
        600.0, ge=0, validation_alias=_env("VIRTUNA_JOBS_SCHEDULE_CATCHUP_SECONDS")
    )
    # Cron schedules (UTC, 5 fields, or 6 with seconds last); empty = on demand only.
    schedule_calculate_trends: str = Field(
        "0 * * * *", validation_alias=_env("SCHEDULE_CALCULATE_TRENDS")
    )
    schedule_scrape_trending: str = Field(
        "0 */6 * * *", validation_alias=_env("SCHEDULE_SCRAPE_TRENDING")
    )
    schedule_sync_whop: str = Field("0 */12 * * *", validation_alias=_env("SCHEDULE_SYNC_WHOP"))
    schedule_refresh_competitors: str = Field(
        "0 6 * * *", validation_alias=_env("SCHEDULE_REFRESH_COMPETITORS")
    )
    schedule_validate_rules: str = Field(
        "0 2 * * *", validation_alias=_env("SCHEDULE_VALIDATE_RULES")
    )
    schedule_retrain_ml: str = Field("0 3 * * 1", validation_alias=_env("SCHEDULE_RETRAIN_ML"))
    schedule_calibration_audit: str = Field(
        "0 4 1 * *", validation_alias=_env("SCHEDULE_CALIBRATION_AUDIT")
    )
    schedule_outcome_follow_up: str = Field(
        "*/15 * * * *", validation_alias=_env("SCHEDULE_OUTCOME_FOLLOW_UP")
    )
    schedule_purge_uploads: str = Field(
        "30 3 * * *", validation_alias=_env("SCHEDULE_PURGE_UPLOADS")
    )

    # --- outcomes and calibration ---
    # Calibration joins each prediction with its outcome this many days after posting: views
    # are still growing before that, and the model predicts views at >= 7 days.
    calibration_horizon_days: int = Field(
        7, ge=1, le=90, validation_alias=_env("VIRTUNA_CALIBRATION_HORIZON_DAYS")
    )
    # Joined outcomes needed before a calibrator is even fitted (per engine version and mode).
    calibration_min_rows: int = Field(
        50, ge=20, validation_alias=_env("VIRTUNA_CALIBRATION_MIN_ROWS")
    )
    # Isotonic calibration has many parameters and overfits small samples.
    calibration_isotonic_min_rows: int = Field(
        1000, ge=100, validation_alias=_env("VIRTUNA_CALIBRATION_ISOTONIC_MIN_ROWS")
    )
    # Latest share of joined rows held out to judge a calibrator before activation.
    calibration_holdout_fraction: float = Field(
        0.3, gt=0, lt=1, validation_alias=_env("VIRTUNA_CALIBRATION_HOLDOUT_FRACTION")
    )
    # "How did this post perform?" is asked this long after the planned post time.
    outcome_prompt_hours: int = Field(
        48, ge=1, le=24 * 30, validation_alias=_env("VIRTUNA_OUTCOME_PROMPT_HOURS")
    )
    # A follow-up scrape claimed longer ago than this belonged to a worker that died: it is
    # claimed again. The scraper run waits at most 3/4 of it, so a live claim is never stale.
    outcome_follow_up_stale_minutes: int = Field(
        90, ge=5, le=24 * 60, validation_alias=_env("VIRTUNA_OUTCOME_FOLLOW_UP_STALE_MINUTES")
    )

    # --- models ---
    # Pins one bundle: the registry's champion (and hot reload) is then ignored.
    model_dir: Path | None = Field(None, validation_alias=_env("VIRTUNA_MODEL_DIR"))
    # How often a serving process checks the model registry for a newly promoted champion
    # (0 = never: the model loaded at start-up serves until restart).
    model_refresh_seconds: float = Field(
        30.0, ge=0, le=3600, validation_alias=_env("VIRTUNA_MODEL_REFRESH_SECONDS")
    )
    # retrain-ml trains on the database's scraped videos once it holds at least this many
    # rows old enough to evaluate (>= 7 days at scrape); below it, on VIRTUNA_ML_FALLBACK_DATA.
    ml_min_db_rows: int = Field(5000, ge=100, validation_alias=_env("VIRTUNA_ML_MIN_DB_ROWS"))
    # Scraper-item files (comma-separated) to train on while the database is too small, e.g.
    # the shared data the shipped bundle was trained on; empty = skip retraining until then.
    ml_fallback_data: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, validation_alias=_env("VIRTUNA_ML_FALLBACK_DATA")
    )
    # A challenger is promoted unless it is worse than the champion by more than this on
    # Spearman or on macro-F1 (same most-recent window, same tier cut-offs).
    ml_promotion_tolerance: float = Field(
        0.01, ge=0, le=0.5, validation_alias=_env("VIRTUNA_ML_PROMOTION_TOLERANCE")
    )

    @field_validator("ml_fallback_data", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(part.strip()) for part in value.split(",") if part.strip()]
        return value

    @field_validator("scraper_hashtags", "cors_origins", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trends_windows_days", mode="before")
    @classmethod
    def _split_days(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.split(",") if part.strip()]
        return value

    @field_validator("trends_windows_days")
    @classmethod
    def _valid_days(cls, value: list[int]) -> list[int]:
        if not value or any(day < 1 or day > 365 for day in value):
            raise ValueError("give 1 to 365 days per window, e.g. 1,7,30")
        return sorted(set(value))

    @field_validator("whop_plan_map", "plan_daily_quotas", "plan_rate_limits", mode="before")
    @classmethod
    def _split_pairs(cls, value: object) -> object:
        # "a:1,b:2" from the environment; "unlimited" stands for -1 (no cap).
        if not isinstance(value, str):
            return value
        pairs = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            key, sep, item = part.partition(":")
            if not sep or not key.strip():
                raise ValueError(f"expected NAME:VALUE pairs, got {part!r}")
            item = item.strip()
            pairs[key.strip()] = "-1" if item.lower() == "unlimited" else item
        return pairs

    @field_validator(
        "schedule_calculate_trends",
        "schedule_scrape_trending",
        "schedule_sync_whop",
        "schedule_refresh_competitors",
        "schedule_validate_rules",
        "schedule_retrain_ml",
        "schedule_calibration_audit",
        "schedule_outcome_follow_up",
        "schedule_purge_uploads",
    )
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        value = value.strip()
        if value and not croniter.is_valid(value):
            raise ValueError(f"not a valid cron expression: {value!r}")
        return value

    @field_validator(
        "llm_content_providers", "llm_reasoning_providers", "llm_rules_providers", mode="before"
    )
    @classmethod
    def _provider_chain(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip().lower() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            unknown = sorted(set(value) - {"gemini", "deepseek", "openai_compat"})
            if unknown:
                raise ValueError(
                    f"unknown providers {unknown}; use gemini, deepseek, openai_compat"
                )
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
            "whop_api_key",
            "metrics_token",
            "session_secret",
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
