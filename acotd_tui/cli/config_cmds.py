"""`acotd config set/unset`: change acotd.toml as data (validated first, comments kept)."""

from __future__ import annotations

import tomllib
from typing import Any

import click

from acotd_tui.config import CONFIG_FILENAME, edit_config
from acotd_tui.errors import AcotdError
from acotd_tui.project import resolve_project_dir

from .common import effective_project_dir, info, project_option


def _value(raw: str) -> Any:
    """A TOML value (8, 0.5, true, ["a", "b"], {E = 6, M = 3, H = 1}), else the text itself:
    `models.student.model=Qwen/Qwen3-8B` needs no quotes."""
    try:
        return tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        return raw


def _assignment(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise AcotdError(f"{text!r}: expected KEY=VALUE, e.g. limits.concurrency=8")
    return key.strip(), _value(raw.strip())


def _edit(project_dir: str | None, values: dict[str, Any]) -> None:
    # The file is edited directly (not through Project.open), so a broken config can be fixed.
    path = resolve_project_dir(effective_project_dir(project_dir)) / CONFIG_FILENAME
    edit_config(path, values)


@click.group("config")
def config_group() -> None:
    """Change acotd.toml: values are set as data, checked first, comments kept."""


@config_group.command("set")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@project_option
def config_set_cmd(assignments: tuple[str, ...], project_dir: str | None) -> None:
    """Set dotted keys to values (KEY=VALUE).

    E.g. `acotd config set limits.concurrency=8 models.student.model=Qwen/Qwen3-8B`. A VALUE is read as TOML (8, 0.5, true, ["a"], {E = 6, M = 3, H = 1}), else as text.
    Nothing is written unless the whole result is a valid config."""
    values = dict(_assignment(a) for a in assignments)
    _edit(project_dir, values)
    for key, value in values.items():
        info(f"{key} = {value!r}")


@config_group.command("unset")
@click.argument("keys", nargs=-1, required=True)
@project_option
def config_unset_cmd(keys: tuple[str, ...], project_dir: str | None) -> None:
    """Remove dotted keys from acotd.toml: each is back at its default."""
    _edit(project_dir, dict.fromkeys(keys))
    for key in keys:
        info(f"{key}: back to its default")
