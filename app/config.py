"""Settings, read from the environment (and a `.env` file when present)."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite:///./data/news.db"


class Settings(BaseSettings):
    """Every knob of the service; each field is an environment variable of the same name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        DEFAULT_SQLITE_URL,
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db.",
    )
    host: str = Field("127.0.0.1", description="Interface `make run` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `make run` listens on.")
    db_pool_size: int = Field(10, ge=1, le=200, description="Connections kept per process.")
    max_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest request body for single-article routes."
    )
    max_import_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest JSON body for POST /v1/imports."
    )
    max_ndjson_bytes: int = Field(
        2 * 1024**3, ge=1024, description="Largest streamed NDJSON body for POST /v1/imports."
    )
    max_import_items: int = Field(1000, ge=1, description="Most items in one JSON import.")
    import_chunk_size: int = Field(
        500, ge=1, le=5000, description="Items stored per transaction during an NDJSON import."
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
