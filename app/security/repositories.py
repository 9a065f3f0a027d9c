"""Queries for API keys; flush, never commit."""

from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from app.models import ApiKey


class ApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, name: str, scope: str, key_hash: str, prefix: str) -> ApiKey:
        """A new key; IntegrityError when the name is taken."""
        row = ApiKey(name=name, scope=scope, key_hash=key_hash, prefix=prefix)
        self.session.add(row)
        self.session.flush()
        return row

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return self.session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))

    def get_by_id_or_name(self, ref: str) -> ApiKey | None:
        by_name = self.session.scalar(select(ApiKey).where(ApiKey.name == ref))
        if by_name is not None or not ref.isdigit():
            return by_name
        return self.session.get(ApiKey, int(ref))

    def list_all(self) -> list[ApiKey]:
        return list(self.session.scalars(select(ApiKey).order_by(ApiKey.id)))

    def any_exist(self) -> bool:
        """Whether any key was ever created, revoked ones included (else: open mode)."""
        return bool(self.session.scalar(select(exists().select_from(ApiKey))))

    def any_active(self) -> bool:
        query = select(exists().where(ApiKey.revoked_at.is_(None)))
        return bool(self.session.scalar(query))

    def touch(self, key_id: int, at: datetime) -> None:
        self.session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))
