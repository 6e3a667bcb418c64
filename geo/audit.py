"""The audit log: every write through the admin API, the console or the CLI is recorded (who, when, what).

One way to audit a write, whoever makes it: :class:`AuditedWrite` snapshots the row before the write
(a snapshot is a dict of the fields the audit log shows, e.g. :func:`geo.editing.resource_record`),
lets the caller write, snapshots it again and records the difference (:func:`diff`) in the caller's
transaction. A create records the new row's fields, a delete the deleted row's.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.models import AuditEntry


def record(session: Session, *, actor: str, action: str, entity: str, entity_id: Any, changes: dict) -> AuditEntry:
    """Add an audit entry to ``session``; it is committed with the write it describes (or not at all)."""
    entry = AuditEntry(actor=actor, action=action, entity=entity, entity_id=str(entity_id), changes=_jsonable(changes))
    session.add(entry)
    return entry


def recent_entries(session: Session, *, limit: int = 100, entity: str | None = None) -> list[AuditEntry]:
    """The newest ``limit`` entries of the audit log, newest first, of one ``entity`` kind if given."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if entity:
        stmt = stmt.where(AuditEntry.entity == entity)
    return list(session.scalars(stmt))


def audit_value(value: Any) -> Any:
    """A field value as the audit log shows it: floats to 7 decimals (0.01 m), dates as ISO text."""
    if value is None:
        return None
    if isinstance(value, float):
        return round(value, 7)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _same(value: Any) -> Any:
    """What a comparison sees: empty text is None, numbers (and numeric text) to 6 decimals."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(float(value), 6)
    try:
        return round(float(str(value)), 6)
    except ValueError:
        return str(value).strip()


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields whose value differs between two snapshots: ``{field: {"from": …, "to": …}}``.

    A field missing from one side is None there, so ``diff({}, row)`` is a created row's filled fields
    and ``diff(row, {})`` a deleted row's. ``12`` and ``"12"``, or ``""`` and ``None``, are the same
    value (a form's text and a column's number).
    """
    return {
        k: {"from": audit_value(before.get(k)), "to": audit_value(after.get(k))}
        for k in dict.fromkeys([*before, *after])
        if _same(before.get(k)) != _same(after.get(k))
    }


class AuditedWrite:
    """One audited write of one row, as a context manager: snapshot, write, snapshot, record the difference.

    Parameters
    ----------
    session
        The caller's session; the entry is added to it and committed with the write (or not at all).
    actor, action, entity
        Who writes (token name, console user, ``cli:<user>``), what (``create``, ``update``, ``delete``,
        ``retarget``, …) and the kind of row (``resource``, ``class``, ``evaluation``, ``skill_code``).
    row
        The row written, when it exists before the write. A row that the write creates is set on
        :attr:`row` inside the block.
    snapshot
        The audited fields of a row (the same function for every writer of that kind of row).
    entity_id
        The id the audit log files the row under (default: its ``id``).
    skip_unchanged
        Record nothing when no audited field changed.

    A ``delete`` records the deleted row's fields. Inside the block, :attr:`action` may be changed when
    it depends on what the write did (e.g. ``enable`` for an update that only enabled a code). After
    the block, :attr:`before` holds the first snapshot and :attr:`changes` what was recorded. A block
    that raises records nothing.
    """

    def __init__(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        entity: str,
        snapshot: Callable[[Any], dict[str, Any]],
        row: Any = None,
        entity_id: Callable[[Any], Any] = lambda row: row.id,
        skip_unchanged: bool = False,
    ) -> None:
        self._session = session
        self._actor, self._entity = actor, entity
        self.action = action
        self._snapshot, self._entity_id = snapshot, entity_id
        self._skip_unchanged = skip_unchanged
        self.row = row
        self.before: dict[str, Any] = {}
        self.changes: dict[str, Any] = {}

    def __enter__(self) -> AuditedWrite:
        if self.row is not None:
            self.before = self._snapshot(self.row)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            return
        self._session.flush()
        after = {} if self.action == "delete" else self._snapshot(self.row)
        self.changes = diff(self.before, after)
        if self.changes or not self._skip_unchanged:
            record(
                self._session,
                actor=self._actor,
                action=self.action,
                entity=self._entity,
                entity_id=self._entity_id(self.row),
                changes=self.changes,
            )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
