"""Key files (``var/keys``) created once, also when many threads of one process ask at once.

The first sign-ups after a start ask for the server secret from many request threads together; each
writer used to stage the key in a file named by the process id only, so two threads of one process
shared it, and the one that linked and removed it first left the other with ``FileNotFoundError``
(seen as one failed sign-up out of 200 in ``test_signup_concurrency``).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest


def _race(name: str, threads: int) -> tuple[list[str], list[BaseException]]:
    """``threads`` threads ask for key file ``name`` at the same moment; what they got, what they raised."""
    from geo import personal

    start = threading.Barrier(threads)
    got: list[str] = []
    failed: list[BaseException] = []

    def _read() -> None:
        start.wait()
        try:
            got.append(personal._key_file(name, lambda: threading.current_thread().name))
        except BaseException as exc:  # noqa: BLE001 - a thread's failure is collected and asserted on
            failed.append(exc)

    workers = [threading.Thread(target=_read, name=f"writer-{i}") for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return got, failed


def test_concurrent_first_reads_of_a_key_file_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from geo.config import get_settings

    monkeypatch.setenv("SKILLCIRCLE_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        for round_ in range(20):
            name = f"race-{round_}.key"
            got, failed = _race(name, 16)
            assert not failed, failed
            assert len(got) == 16 and len(set(got)) == 1  # one key, the same for every reader
            assert (tmp_path / "keys" / name).read_text() == got[0]
        # no staging file left behind
        assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == sorted(f"race-{i}.key" for i in range(20))
    finally:
        get_settings.cache_clear()
