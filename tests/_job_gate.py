"""A gate that holds an import job at a chosen point, for tests that kill servers mid-job.

``tests/test_jobs.py`` copies this file as ``sitecustomize.py`` into a folder on the ``PYTHONPATH`` of
the uvicorn servers it starts, so every process of those servers (the server and its ``spawn`` job
processes) loads it at start-up. The product has no test hook: this file patches it from outside,
and only in a process whose environment asks for it:

- ``SC_TEST_JOB_GATE=<folder>``: an import job's process stops at ``SC_TEST_JOB_GATE_AT`` (``checking``:
  before any row is checked, holding no database lock; ``flushed``: every row written into the import's
  transaction, not committed), writes its process id to ``<folder>/paused``, and waits until
  ``<folder>/release`` exists. A test thus kills a server while its job is running at a known point,
  without racing the job.
- ``SC_TEST_HOST=<name>``: the server (and its job processes) take themselves for machine ``<name>``
  (their host key), so servers of different names judge each other's jobs by heartbeats alone, as
  servers on different hosts do.

The patches are applied when ``geo.importer`` and ``geo.jobs`` are first imported (an import hook):
at interpreter start-up ``sys.path`` does not point at the project yet.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

GATE = "SC_TEST_JOB_GATE"
GATE_AT = "SC_TEST_JOB_GATE_AT"
HOST = "SC_TEST_HOST"


def _pause(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "paused").write_text(str(os.getpid()))
    while not (folder / "release").exists():
        time.sleep(0.05)


def _patch_importer(module: ModuleType) -> None:
    folder, at = Path(os.environ[GATE]), os.environ.get(GATE_AT, "flushed")
    original = module.import_sheet

    def gated(*args: Any, **kwargs: Any) -> Any:
        if at == "checking":
            progress = kwargs.get("progress")

            def held(phase: str, done: int, total: int) -> None:
                if progress is not None:
                    progress(phase, done, total)
                if phase == "checking" and done == 0:
                    _pause(folder)

            kwargs["progress"] = held
            return original(*args, **kwargs)
        report = original(*args, **kwargs)
        _pause(folder)
        return report

    module.import_sheet = gated


def _patch_jobs(module: ModuleType) -> None:
    key = f"test-host-{os.environ[HOST]}"
    module._host_key = lambda: key


class _Finder(importlib.abc.MetaPathFinder):
    """Patches the named modules right after they execute."""

    def __init__(self, patches: dict[str, Any]) -> None:
        self.patches = patches

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name not in self.patches:
            return None
        patch = self.patches.pop(name)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            patch(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Register the patches this process's environment asks for."""
    patches: dict[str, Any] = {}
    if os.environ.get(GATE):
        patches["geo.importer"] = _patch_importer
    if os.environ.get(HOST):
        patches["geo.jobs"] = _patch_jobs
    if patches:
        sys.meta_path.insert(0, _Finder(patches))


if __name__ == "sitecustomize":
    install()
