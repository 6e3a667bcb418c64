"""online sign-up for evaluation sessions: a sign-up is for a class or for an evaluation

``signups.evaluation_id`` (nullable, cascade) joins ``class_id``, which becomes nullable; a check says
exactly one of them is set. The per-offer uniqueness of a form's submission key and of a number's
active sign-up, and the status index, are repeated for evaluations. ``evaluations.seats_left`` gets the
non-negative check the classes have (the seat is taken by one conditional UPDATE, as for a class).
Existing rows are all class sign-ups and keep their ``class_id``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evaluation_id", sa.Integer(), nullable=True))
        batch_op.alter_column("class_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            "fk_signups_evaluation_id_evaluations", "evaluations", ["evaluation_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_unique_constraint("uq_signups_evaluation_submission", ["evaluation_id", "submission_key"])
        batch_op.create_unique_constraint("uq_signups_evaluation_active", ["evaluation_id", "active_key"])
        batch_op.create_index("ix_signups_evaluation_status", ["evaluation_id", "status"], unique=False)
        batch_op.create_check_constraint("ck_signups_one_offer", "(class_id IS NULL) <> (evaluation_id IS NULL)")
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.create_check_constraint("ck_evaluations_seats_left_nonneg", "seats_left >= 0")


def downgrade() -> None:
    # the places the confirmed sign-ups held go back to their sessions before the sign-ups go
    op.execute(
        "UPDATE evaluations SET seats_left = seats_left + (SELECT count(*) FROM signups"
        " WHERE signups.evaluation_id = evaluations.id AND signups.status = 'confirmed')"
    )
    op.execute("DELETE FROM signups WHERE evaluation_id IS NOT NULL")
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_constraint("ck_evaluations_seats_left_nonneg", type_="check")
    with op.batch_alter_table("signups", schema=None) as batch_op:
        batch_op.drop_constraint("ck_signups_one_offer", type_="check")
        batch_op.drop_index("ix_signups_evaluation_status")
        batch_op.drop_constraint("uq_signups_evaluation_active", type_="unique")
        batch_op.drop_constraint("uq_signups_evaluation_submission", type_="unique")
        batch_op.drop_constraint("fk_signups_evaluation_id_evaluations", type_="foreignkey")
        batch_op.alter_column("class_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("evaluation_id")
