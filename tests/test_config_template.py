"""`acotd init`'s acotd.toml is rendered from the Config model; config edits are data edits."""

from __future__ import annotations

import re
import tomllib
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from acotd_tui.config import (
    OPTIONAL_ROLES,
    ROLES,
    SUGGESTED_ROLES,
    Config,
    ModelRole,
    default_config_text,
    edit_config,
    parse_config,
)
from acotd_tui.errors import ConfigError

# A commented-out key or table of the template: `# key = value`, `# [models.prm]  # ...`.
_COMMENTED_OUT = re.compile(r"^# (?=[A-Za-z_][A-Za-z0-9_]* = |\[)", re.MULTILINE)


def _model_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every dotted key of `model`, sections and model roles walked recursively."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _model_keys(annotation, f"{prefix}{name}.")
        elif typing.get_origin(annotation) is dict and typing.get_args(annotation)[1] is ModelRole:
            for role in ROLES:
                yield from _model_keys(ModelRole, f"{prefix}{name}.{role}.")
        else:
            yield prefix + name


def _role_keys(data: dict) -> set[str]:
    """The keys shown per role: the union over every role table (the student lists them all)."""
    shown = {key for table in data["models"].values() for key in table}
    return {f"models.{role}.{key}" for role in ROLES for key in shown}


def _file_keys(data: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in data.items():
        if isinstance(value, dict) and f"{prefix}{key}" not in _INLINE:
            keys |= _file_keys(value, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys


_INLINE = {"sampling.ratios", "sampling.curriculum"} | {f"models.{role}.extra" for role in ROLES}


def test_the_template_holds_every_key_of_every_section():
    text = default_config_text("p")
    uncommented = tomllib.loads(_COMMENTED_OUT.sub("", text))
    assert set(uncommented["models"]) == set(ROLES)
    shown = {k for k in _file_keys(uncommented) if not k.startswith("models.")}
    shown |= _role_keys(uncommented)
    assert set(_model_keys(Config)) - shown == set()
    assert shown - set(_model_keys(Config)) == set()
    Config.model_validate(uncommented)  # the examples of commented-out keys are valid values
    # Keys without a default are commented out: TOML has no null.
    plain = tomllib.loads(text)
    assert "api_base" not in plain["models"]["student"] and "workers" not in plain["code"]
    assert "# answer_pattern = " in text and "# max_model_len = " in text
    assert "§4.3.3 says 8196" in text and "Algorithm 1" in text  # descriptions are comments


def test_the_template_parses_to_the_defaults_and_the_suggested_roles():
    config = parse_config(default_config_text("p"))
    assert config.model_dump(exclude={"models"}) == Config(name="p").model_dump(exclude={"models"})
    assert config.models == {
        role: ModelRole(**settings)
        for role, settings in SUGGESTED_ROLES.items()
        if role not in OPTIONAL_ROLES
    }


def test_edits_round_trip_and_keep_the_comments(tmp_path: Path):
    path = tmp_path / "acotd.toml"
    path.write_text(default_config_text("p"), encoding="utf-8")
    before = parse_config(path.read_text())
    edits = {
        "limits.concurrency": 2,
        "sampling.ratios": {"E": 1, "M": 1, "H": 2},
        "diagnose.answer_pattern": "Answer: (.+)",
        "models.student.device": "cpu",
        "models.judge.api_key_env": None,  # removed: back to the default
        "models.prm": {"backend": "transformers", "model": "Qwen/Qwen2.5-Math-PRM-7B"},
    }
    returned = edit_config(path, edits)
    text = path.read_text()
    after = parse_config(text)
    assert returned == after
    assert after.limits.concurrency == 2 and after.sampling.ratios == {"E": 1, "M": 1, "H": 2}
    assert after.diagnose.answer_pattern == "Answer: (.+)"
    assert after.models["student"].device == "cpu" and after.models["judge"].api_key_env is None
    assert after.models["prm"].model == "Qwen/Qwen2.5-Math-PRM-7B"
    assert "# requests in flight at once\nconcurrency = 2\n" in text  # comments kept in place
    assert "ratios = {E = 1, M = 1, H = 2}" in text  # still an inline table
    # Nothing else moved: the edited config equals the original with the edits applied.
    expected = before.model_dump()
    expected["limits"]["concurrency"] = 2
    expected["sampling"]["ratios"] = {"E": 1, "M": 1, "H": 2}
    expected["diagnose"]["answer_pattern"] = "Answer: (.+)"
    expected["models"]["student"]["device"] = "cpu"
    expected["models"]["judge"]["api_key_env"] = None
    expected["models"]["prm"] = after.models["prm"].model_dump()
    assert after.model_dump() == expected
    edit_config(path, {"limits.concurrency": 2})
    assert path.read_text() == text  # setting a value it has changes nothing


def test_an_edit_keeps_the_file_mode(tmp_path: Path):
    path = tmp_path / "acotd.toml"
    path.write_text(default_config_text("p"), encoding="utf-8")
    path.chmod(0o600)  # e.g. kept private because it names servers
    edit_config(path, {"limits.concurrency": 3})
    assert path.stat().st_mode & 0o777 == 0o600
    assert not path.with_name("acotd.toml.tmp").exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"limits.concurrency": 0}, "limits.concurrency: Input should be greater than"),
        ({"limits.concurency": 2}, "limits.concurency: unknown key"),
        ({"models.teacher": {"model": "m"}}, "unknown model role 'teacher'"),
        ({"grading.rule": "lenient"}, "grading.rule: Input should be 'paper' or 'checked'"),
        ({"limits.concurrency.max": 2}, "limits.concurrency is a value"),
        ({"limits..x": 2}, "is not a dotted key"),
    ],
)
def test_a_bad_edit_is_refused_and_leaves_the_file_as_it_was(tmp_path: Path, values, message):
    path = tmp_path / "acotd.toml"
    path.write_text(default_config_text("p"), encoding="utf-8")
    original = path.read_bytes()
    with pytest.raises(ConfigError, match=re.escape(message)):
        edit_config(path, values)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["acotd.toml"]


def test_acotd_config_set_and_unset(tmp_path: Path):
    from click.testing import CliRunner

    from acotd_tui.cli import main

    runner = CliRunner()
    root = tmp_path / "p"
    assert runner.invoke(main, ["init", str(root)]).exit_code == 0
    path = root / "acotd.toml"
    args = ["config", "set", "-p", str(root), "limits.concurrency=8"]
    args += ["models.student.model=Qwen/Qwen3-8B", "sampling.ratios={E = 5, M = 3, H = 2}"]
    assert runner.invoke(main, args).exit_code == 0
    config = parse_config(path.read_text())
    assert config.limits.concurrency == 8 and config.models["student"].model == "Qwen/Qwen3-8B"
    assert config.sampling.ratios == {"E": 5, "M": 3, "H": 2}
    assert "# requests in flight at once\nconcurrency = 8\n" in path.read_text()

    before = path.read_bytes()
    for bad in (["limits.concurrency=0"], ["limits.concurency=2"], ["concurrency"]):
        result = runner.invoke(main, ["config", "set", "-p", str(root), *bad])
        assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
        assert path.read_bytes() == before

    assert (
        runner.invoke(main, ["config", "unset", "-p", str(root), "limits.concurrency"]).exit_code
        == 0
    )
    assert parse_config(path.read_text()).limits.concurrency == 32
