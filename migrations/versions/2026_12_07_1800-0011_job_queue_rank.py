"""job queue ranks: fair queueing of article fetches by host

`job_queue_rank` holds, per task and group (an article fetch's host), the rank its next job
takes; a job's priority is minus its rank (app/jobs/fairness.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_queue_rank",
        sa.Column("task", sa.String(length=128), nullable=False),
        sa.Column("group_key", sa.String(length=255), nullable=False),
        sa.Column("rank", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("task", "group_key", name=op.f("pk_job_queue_rank")),
    )
    op.create_index("ix_job_queue_rank_task_rank", "job_queue_rank", ["task", "rank"])


def downgrade() -> None:
    op.drop_index("ix_job_queue_rank_task_rank", table_name="job_queue_rank")
    op.drop_table("job_queue_rank")
