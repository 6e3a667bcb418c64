"""The service's settings: one pydantic-settings object read from the environment or a .env file.

Every variable is prefixed ``SKILLCIRCLE_`` except ``DATABASE_URL`` (the conventional name).
It lives in ``geo`` (the bottom layer) so that storage, the engine and the API read the same object.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """SkillCircle configuration. See the README's "Configuration" table."""

    model_config = SettingsConfigDict(env_prefix="SKILLCIRCLE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "SKILLCIRCLE_DATABASE_URL"),
        description="SQLAlchemy URL; empty = embedded SQLite at var/skillcircle.db",
    )
    var_dir: Path = Field(default=PROJECT_DIR / "var", description="generated data: database, networks, caches")
    default_city: str = "jiaxing"
    cities: list[str] = Field(default_factory=lambda: ["jiaxing", "demo"])
    base_url: str = Field(default="http://127.0.0.1:8000", description="public URL printed in QR codes")
    cors_origins: list[str] = Field(default_factory=list)
    embed_origins: list[str] = Field(default_factory=list, description="portal origins allowed to frame /embed")
    rate_limit_per_minute: int = Field(default=600, ge=0, description="public requests per client per minute; 0 = off")
    redis_url: str = Field(default="", description="Redis for the shared rate limit, e.g. redis://127.0.0.1:6379/0")
    redis_key_prefix: str = Field(default="skillcircle", description="prefix of every Redis key this service writes")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="proxy addresses/networks whose X-Forwarded-For is believed"
    )
    coverage_cache_mb: float = Field(default=128.0, ge=0, description="bytes of /coverage answers kept per worker")
    warm_up: list[str] = Field(
        default_factory=list,
        description="city or province keys whose grids and coverage models each server process builds as it starts",
    )
    exact_time_limit_s: float = Field(default=10.0, gt=0, description="wall-clock limit of one exact site solve")
    max_upload_mb: float = Field(default=10.0, gt=0, description="largest import file, API upload and CLI alike")
    max_sheet_rows: int = Field(default=100_000, ge=1, description="data rows one import file may hold")
    max_sheet_columns: int = Field(default=100, ge=1, description="columns one import sheet may hold")
    max_xlsx_sheets: int = Field(default=50, ge=1, description="worksheets one XLSX file may hold")
    max_xlsx_unzipped_mb: float = Field(default=100.0, gt=0, description="declared unzipped size of an XLSX")
    max_xlsx_ratio: float = Field(default=100.0, gt=1, description="compression ratio of an XLSX part (> 1 MB)")
    job_processes: int = Field(default=1, ge=1, le=8, description="processes per server worker that run import jobs")
    job_interrupted_after_s: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="a queued or running job without a heartbeat for this long is reported failed (job_interrupted)",
    )
    basemap: str = Field(default="osm", description="default basemap: osm, tianditu, amap or none")
    tianditu_key: str = Field(default="", description="Tianditu's key (its basemap is refused without one)")
    offline: bool = Field(default=False, description="never try to download road networks")
    secret_key: str = Field(
        default="", description="signs sessions and keys the hashes of numbers/IPs; empty = var/keys/secret.key"
    )
    data_keys: list[str] = Field(
        default_factory=list,
        description="Fernet keys encrypting mobile numbers, newest first (rotation); empty = var/keys/data.key",
    )
    signup_retention_days: int = Field(default=30, ge=0, description="sign-ups are deleted N days after class end")
    signup_waitlist_max: int = Field(default=20, ge=0, description="waitlist places per class beyond its seats")
    signup_limit_per_ip_hour: int = Field(default=10, ge=0, description="sign-ups per IP address per hour; 0 = off")
    signup_limit_per_number_day: int = Field(default=5, ge=0, description="sign-ups per mobile number per day")
    retention_interval_minutes: int = Field(default=60, ge=0, description="periodic retention sweep; 0 = off")
    session_hours: float = Field(default=8.0, gt=0, description="console sessions expire after this idle time")
    login_max_failures: int = Field(default=5, ge=1, description="failed logins before an account is locked")
    login_lockout_minutes: int = Field(default=15, ge=1, description="how long a locked account stays locked")

    @property
    def effective_database_url(self) -> str:
        """``database_url`` or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.var_dir / 'skillcircle.db'}"


@cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()`` after changing env)."""
    return Settings()
