"""Alembic environment: runs migrations on the URL ``geo.db.upgrade`` passes in."""

from alembic import context
from sqlalchemy import create_engine, pool

from geo.db import include_in_autogenerate
from geo.errors import SkillCircleError
from geo.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Run the migrations online against the configured URL (batch mode so SQLite can ALTER)."""
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        msg = "the Alembic configuration has no sqlalchemy.url: run migrations with `skillcircle db upgrade`"
        raise SkillCircleError(msg, message_zh="Alembic 配置缺少 sqlalchemy.url：请用 skillcircle db upgrade")
    connectable = create_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            include_object=include_in_autogenerate,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
