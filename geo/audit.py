"""The audit log: every write through the admin API or the CLI is recorded (who, when, what)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from geo.models import AuditEntry


def record(session: Session, *, actor: str, action: str, entity: str, entity_id: Any, changes: dict) -> AuditEntry:
    """Add an audit entry to ``session``; it is committed with the write it describes (or not at all)."""
    entry = AuditEntry(actor=actor, action=action, entity=entity, entity_id=str(entity_id), changes=_jsonable(changes))
    session.add(entry)
    return entry


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
