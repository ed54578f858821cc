"""Typed settings, read once from the environment (and an optional .env) where a process starts."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    # store.report pulls in numpy and the quality checks; every CLI start reads settings.
    from store.report import TokenPrices


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every setting crowdtune reads; each has an environment variable of the same meaning."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # --- storage ---
    database_url: str = Field(
        "sqlite:///crowdtune.db",
        validation_alias=_env("DATABASE_URL"),
        description="SQLAlchemy URL; SQLite file in the working folder by default.",
    )

    # --- Slack ---
    slack_bot_token: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_BOT_TOKEN"), description="Bot token (xoxb-…)."
    )
    slack_signing_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("SLACK_SIGNING_SECRET"),
        description="Verifies that HTTP requests come from Slack (HTTP mode).",
    )
    slack_app_token: SecretStr | None = Field(
        None,
        validation_alias=_env("SLACK_APP_TOKEN"),
        description="App-level token (xapp-…); when set, the bot connects by Socket Mode.",
    )
    slack_api_url: str = Field(
        "https://slack.com/api/",
        validation_alias=_env("SLACK_API_URL"),
        description="Slack Web API base URL (GovSlack, or a local double in tests).",
    )
    port: int = Field(3000, validation_alias=_env("PORT"), description="HTTP mode port.")
    admin_user_ids: str = Field(
        "",
        validation_alias=_env("CROWDTUNE_ADMINS"),
        description="Comma-separated Slack user ids allowed to run admin commands.",
    )

    # --- review rules ---
    quorum_approvals: int = Field(
        2,
        ge=1,
        validation_alias=_env("CROWDTUNE_QUORUM_APPROVALS"),
        description="Approvals (edits count) that approve an example.",
    )
    quorum_rejections: int = Field(
        2,
        ge=1,
        validation_alias=_env("CROWDTUNE_QUORUM_REJECTIONS"),
        description="Rejections that reject an example.",
    )
    dedup_warn_threshold: float = Field(
        0.7,
        ge=0,
        le=1,
        validation_alias=_env("CROWDTUNE_DEDUP_WARN"),
        description="ROUGE-L F1 above which the writer is shown the nearest existing example.",
    )
    dedup_block_threshold: float = Field(
        0.9,
        ge=0,
        le=1,
        validation_alias=_env("CROWDTUNE_DEDUP_BLOCK"),
        description="ROUGE-L F1 above which a submission is refused as a duplicate.",
    )
    dedup_snapshot: str | None = Field(
        None,
        validation_alias=_env("CROWDTUNE_DEDUP_SNAPSHOT"),
        description=(
            "Folder of the near-duplicate index snapshot: `db upgrade` and the worker write "
            "it, every process maps it at start and catches up. Unset: built from the database."
        ),
    )
    dedup_snapshot_cron: str = Field(
        "40 * * * *",
        validation_alias=_env("CROWDTUNE_DEDUP_SNAPSHOT_CRON"),
        description="When the worker rewrites the near-duplicate index snapshot.",
    )

    # --- LLM drafts ---
    openai_base_url: str | None = Field(
        None,
        validation_alias=_env("OPENAI_BASE_URL"),
        description="OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama…); OpenAI when unset.",
    )
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=_env("OPENAI_API_KEY"), description="API key for that endpoint."
    )
    llm_model: str = Field(
        "gpt-4o-mini",
        validation_alias=_env("CROWDTUNE_LLM_MODEL"),
        description="Model name used for drafts.",
    )
    llm_concurrency: int = Field(
        4,
        ge=1,
        validation_alias=_env("CROWDTUNE_LLM_CONCURRENCY"),
        description="LLM requests in flight at once.",
    )
    llm_daily_token_budget: int = Field(
        200_000,
        ge=0,
        validation_alias=_env("CROWDTUNE_LLM_DAILY_TOKENS"),
        description="Tokens (prompt + completion) the drafts may spend per UTC day.",
    )
    llm_timeout_seconds: float = Field(
        60.0,
        gt=0,
        validation_alias=_env("CROWDTUNE_LLM_TIMEOUT"),
        description="Timeout of one LLM request.",
    )
    llm_price_prompt: float | None = Field(
        None,
        ge=0,
        validation_alias=_env("CROWDTUNE_LLM_PRICE_PROMPT"),
        description="Price of a million prompt tokens, for the report's cost per example.",
    )
    llm_price_completion: float | None = Field(
        None,
        ge=0,
        validation_alias=_env("CROWDTUNE_LLM_PRICE_COMPLETION"),
        description="Price of a million completion tokens, for the report's cost per example.",
    )

    # --- scheduler ---
    timezone: str = Field(
        "UTC",
        validation_alias=_env("CROWDTUNE_TIMEZONE"),
        description="Time zone of the scheduler's cron expressions.",
    )
    nudge_cron: str = Field(
        "0 10 * * mon-fri",
        validation_alias=_env("CROWDTUNE_NUDGE_CRON"),
        description="When to nudge, in each person's own time zone.",
    )
    quiet_hours: str = Field(
        "18-9",
        validation_alias=_env("CROWDTUNE_QUIET_HOURS"),
        description="Local hours (start-end) in which nobody is nudged.",
    )
    nudge_daily_cap: int = Field(
        1,
        ge=0,
        validation_alias=_env("CROWDTUNE_NUDGE_DAILY_CAP"),
        description="Nudges per person per day at most.",
    )
    assignment_expiry_hours: int = Field(
        48,
        ge=1,
        validation_alias=_env("CROWDTUNE_ASSIGNMENT_EXPIRY_HOURS"),
        description="Unanswered assignments are closed after this many hours.",
    )
    consent_days: int = Field(
        7,
        ge=1,
        validation_alias=_env("CROWDTUNE_CONSENT_DAYS"),
        description="A captured example's quoted authors have this many days to allow; "
        "no answer counts as a decline (the quoted text is deleted).",
    )
    gap_fill_cron: str = Field(
        "0 6 * * *",
        validation_alias=_env("CROWDTUNE_GAP_FILL_CRON"),
        description="When to draft LLM examples for categories below target.",
    )
    export_cron: str = Field(
        "0 3 * * mon",
        validation_alias=_env("CROWDTUNE_EXPORT_CRON"),
        description="When to write the scheduled export.",
    )
    digest_cron: str = Field(
        "0 9 * * mon",
        validation_alias=_env("CROWDTUNE_DIGEST_CRON"),
        description="When to post the weekly digest.",
    )
    export_root: str = Field(
        "exports",
        validation_alias=_env("CROWDTUNE_EXPORT_ROOT"),
        description="Folder holding scheduled exports, one dated folder each.",
    )
    export_keep: int = Field(
        5,
        ge=1,
        validation_alias=_env("CROWDTUNE_EXPORT_KEEP"),
        description="Scheduled exports to keep; older ones are removed.",
    )
    export_args: str = Field(
        "--format dolly,alpaca,openai,sharegpt,parquet --balance cap --cap 2000",
        validation_alias=_env("CROWDTUNE_EXPORT_ARGS"),
        description="Options of `crowdtune export` used by the scheduled export.",
    )
    export_channel: str | None = Field(
        None,
        validation_alias=_env("CROWDTUNE_EXPORT_CHANNEL"),
        description="Channel id that receives the export summary.",
    )
    digest_channel: str | None = Field(
        None,
        validation_alias=_env("CROWDTUNE_DIGEST_CHANNEL"),
        description="Channel id that receives the weekly digest.",
    )
    pseudonym_salt: SecretStr | None = Field(
        None,
        validation_alias=_env("CROWDTUNE_PSEUDONYM_SALT"),
        description="Secret salt hashing contributor ids in exports (required to export).",
    )
    log_level: str = Field(
        "INFO", validation_alias=_env("CROWDTUNE_LOG_LEVEL"), description="Logging level."
    )

    @field_validator("database_url")
    @classmethod
    def _url_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("DATABASE_URL is empty")
        return v.strip()

    @property
    def token_prices(self) -> TokenPrices:
        """The LLM prices per million tokens, as the report takes them."""
        from store.report import TokenPrices

        return TokenPrices(self.llm_price_prompt, self.llm_price_completion)

    @property
    def admins(self) -> frozenset[str]:
        """Slack user ids named as admins."""
        return frozenset(u.strip() for u in self.admin_user_ids.split(",") if u.strip())


def load_settings() -> Settings:
    """Settings from the environment and `.env`; raises pydantic's ValidationError if invalid."""
    return Settings()


def configure_logging(level: str) -> None:
    """Log to stderr at `level` (CROWDTUNE_LOG_LEVEL), one line per record."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # Alembic's INFO lines (each plugin set up, each revision run: some twenty on a new
        # database) are what `crowdtune db upgrade` sums up in one line of its own.
        logging.getLogger("alembic").setLevel(logging.WARNING)
