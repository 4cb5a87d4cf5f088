"""A project directory: `acotd.toml`, the store `acotd.db` and `runs/` for job artifacts."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acotd_tui.store import DB_FILENAME, Store

from .config import CONFIG_FILENAME, Config, default_config_text, edit_config, load_config
from .errors import AcotdError

PROJECT_ENV = "ACOTD_PROJECT"

# What SQLite says when the file is not (or no longer) a whole database.
_DAMAGE_SIGNS = ("file is not a database", "malformed", "disk image", "database corrupt")


def store_failure(db_path: Path, exc: sqlite3.DatabaseError) -> AcotdError:
    """One line for a store SQLite cannot use: which file, what is wrong, what to do."""
    text = str(exc) or type(exc).__name__
    if any(sign in text for sign in _DAMAGE_SIGNS):
        return AcotdError(
            f"the store {db_path} is damaged or truncated ({text}); restore it from a backup, "
            f"or move it aside and run `acotd init` in a new folder and import again"
        )
    return AcotdError(f"store {db_path}: {text}")


def resolve_project_dir(given: str | os.PathLike[str] | None) -> Path:
    """--project, else $ACOTD_PROJECT, else the current directory."""
    if given:
        return Path(given).expanduser().resolve()
    env = os.environ.get(PROJECT_ENV)
    return Path(env).expanduser().resolve() if env else Path.cwd()


@dataclass
class Project:
    root: Path
    config: Config
    _store: Store | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILENAME

    @property
    def db_path(self) -> Path:
        return self.root / DB_FILENAME

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def store(self) -> Store:
        if self._store is None:
            try:
                self._store = Store(self.db_path, create=False)
            except sqlite3.DatabaseError as exc:
                raise store_failure(self.db_path, exc) from None
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reload_config(self) -> None:
        self.config = load_config(self.config_path)

    def edit_config(self, values: Mapping[str, Any]) -> None:
        """Set dotted keys of acotd.toml ({"limits.concurrency": 2}), keeping its comments;
        a bad value or unknown key raises ConfigError and changes nothing."""
        self.config = edit_config(self.config_path, values)

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None) -> Project:
        path = resolve_project_dir(root)
        if not (path / CONFIG_FILENAME).exists():
            raise AcotdError(
                f"{path} is not an acotd project (no {CONFIG_FILENAME}); "
                f"run `acotd init {path}` or pass --project"
            )
        return cls(root=path, config=load_config(path / CONFIG_FILENAME))

    @classmethod
    def init(
        cls,
        root: str | os.PathLike[str],
        *,
        name: str | None = None,
        config_text: str | None = None,
    ) -> Project:
        """Create a project; refuses to overwrite an existing one's config."""
        path = Path(root).expanduser().resolve()
        if (path / CONFIG_FILENAME).exists():
            raise AcotdError(f"{path} already has {CONFIG_FILENAME}; not overwriting")
        try:
            path.mkdir(parents=True, exist_ok=True)
            (path / "runs").mkdir(exist_ok=True)
            (path / CONFIG_FILENAME).write_text(
                config_text or default_config_text(name or path.name), encoding="utf-8"
            )
        except OSError as exc:
            raise AcotdError(f"cannot create project at {path}: {exc.strerror or exc}") from None
        project = cls.open(path)
        # Create and migrate the database now, so init leaves a complete project.
        project._store = Store(project.db_path, create=True)
        return project
