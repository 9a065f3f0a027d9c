"""Queries for Idempotency-Key records (the middleware's stored first responses); flush,
never commit."""

from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, null, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from app.models import IdempotencyRecord


class IdempotencyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, owner: str, key: str) -> IdempotencyRecord | None:
        query = select(IdempotencyRecord).where(
            IdempotencyRecord.owner == owner, IdempotencyRecord.key == key
        )
        return self.session.scalar(query)

    def add_pending(self, owner: str, key: str, method: str, path: str) -> IdempotencyRecord:
        """Claim the key; IntegrityError when another request claimed it first."""
        row = IdempotencyRecord(owner=owner, key=key, method=method, path=path)
        self.session.add(row)
        self.session.flush()
        return row

    def complete(
        self,
        record_id: int,
        request_hash: str,
        status: int,
        headers: list[list[str]] | None,
        body: bytes | None,
        article_id: int | None = None,
    ) -> None:
        """Store the first response; `article_id` names the article whose text it shows
        (IntegrityError when that article has been deleted meanwhile)."""
        self.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record_id)
            .values(
                request_hash=request_hash,
                status=status,
                response_headers=headers if headers is not None else null(),
                response_body=body,
                article_id=article_id,
            )
        )

    def withdraw_article(self, article_id: int) -> None:
        """A takedown: forget every stored response that shows this article. The rows stay
        (status 410, no headers or body), so a retry gets a 410 instead of running again
        (which, with ?restore=true, would undo the takedown)."""
        self.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.article_id == article_id)
            .values(status=410, response_headers=null(), response_body=None, article_id=None)
        )

    def remove(self, record_id: int) -> None:
        self.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))

    def remove_expired(
        self, before: datetime, owner: str | None = None, key: str | None = None
    ) -> int:
        """Delete records created before `before`: all of them, or the one for owner and key."""
        statement = delete(IdempotencyRecord).where(IdempotencyRecord.created_at < before)
        if owner is not None and key is not None:
            statement = statement.where(
                IdempotencyRecord.owner == owner, IdempotencyRecord.key == key
            )
        result = cast(CursorResult[Any], self.session.execute(statement))  # as DML returns
        return result.rowcount
