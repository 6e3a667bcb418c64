"""job heartbeats: who runs a job, and when it last said so

``jobs.runner`` names the process that answers for a queued job (the server that took the upload) or
a running one (the job's own process); ``jobs.heartbeat_at`` is when it last wrote. A queued or
running job whose heartbeat is older than ``SKILLCIRCLE_JOB_INTERRUPTED_AFTER_S`` is reported failed
with ``job_interrupted`` (see ``geo/jobs.py``); ``ix_jobs_status`` keeps that look-up cheap however
many jobs have ended. Jobs from before this revision have no heartbeat: their start (or queue) time
stands in for it, so a job left ``running`` by a server that died before the upgrade is reported
failed too. Both columns are nullable additions, the same on SQLite and PostgreSQL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("runner", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_jobs_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_status")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("runner")
