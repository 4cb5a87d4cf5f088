"""The stage table: the CLI options, the app's job form and the stored job parameters all come
from one pydantic model per stage (acotd_tui/stages.py)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from acotd_tui.cli import main as cli
from acotd_tui.config import Config
from acotd_tui.errors import AcotdError
from acotd_tui.stages import (
    FORM_KINDS,
    STAGES,
    DiagnoseParams,
    GradeParams,
    field_specs,
    form_fields,
    params_from_form,
    validate_params,
)

GENERATED_CLI = ("diagnose", "grade", "teach", "eval")  # commands with generated options


def _cli_params(kind: str) -> dict[str, object]:
    command = cli.commands[kind]
    return {p.name: p for p in command.params}


@pytest.mark.parametrize("kind", GENERATED_CLI)
def test_every_field_is_a_cli_option(kind):
    options = _cli_params(kind)
    not_options = {"teach": {"dataset"}, "eval": {"allow_overlap"}}.get(kind, set())
    for spec in field_specs(STAGES[kind]):
        if spec.name in not_options:  # teach's dataset is its argument; eval keeps no flag
            assert spec.name not in options or not options[spec.name].opts[0].startswith("-")
            continue
        if spec.cli:
            assert spec.name in options, f"{kind}: {spec.name} has no CLI option"
            assert spec.flag in options[spec.name].opts + options[spec.name].secondary_opts
            assert options[spec.name].help == spec.help


@pytest.mark.parametrize("kind", FORM_KINDS)
def test_every_form_field_is_a_model_field_and_round_trips(kind):
    fields = form_fields(kind, Config(), latest_dataset="ds")
    shown = {s.name for s in field_specs(STAGES[kind]) if s.form}
    assert [f.name for f in fields] == [s.name for s in field_specs(STAGES[kind]) if s.form]
    assert shown <= set(STAGES[kind].model_fields) | {
        s.name
        for s in field_specs(STAGES[kind])
        if s.parent  # expanded [training] keys
    }
    params = params_from_form(kind, {f.name: f.value for f in fields})
    assert validate_params(kind, params) == params  # stored form validates again unchanged
    assert STAGES[kind].from_job(params).to_job() == params


def test_the_drift_is_gone_new_only_grader_regrade_and_sources_in_the_form():
    diagnose = {f.name: f for f in form_fields("diagnose", Config())}
    assert {"sources", "new_only"} <= set(diagnose) and "source" not in diagnose
    assert diagnose["new_only"].kind == "bool"
    grade = {f.name: f for f in form_fields("grade", Config())}
    assert {"grader", "regrade"} <= set(grade) and grade["grader"].choices == ("judge", "prm")
    params = params_from_form(
        "diagnose", {"sources": "gsm8k, math", "new_only": True, "samples": "2"}
    )
    assert DiagnoseParams.from_job(params) == DiagnoseParams(
        sources=["gsm8k", "math"], new_only=True, samples=2
    )
    assert (
        GradeParams.from_job(params_from_form("grade", {"grader": "prm", "regrade": True})).grader
        == "prm"
    )


def test_form_prefills_from_the_config():
    cfg = Config.model_validate({"diagnose": {"samples": 3}, "eval": {"n": 7}})
    assert {f.name: f.value for f in form_fields("diagnose", cfg)}["samples"] == "3"
    assert {f.name: f.value for f in form_fields("eval", cfg)}["n"] == "7"
    train = {f.name: f for f in form_fields("train", cfg, latest_dataset="ds")}
    assert train["dataset"].value == "ds" and train["epochs"].value == str(cfg.training.epochs)
    params = params_from_form("train", {"dataset": "ds", "epochs": "2", "learning_rate": ""})
    assert params["hyper"] == {"epochs": 2.0}


@pytest.mark.parametrize(
    ("kind", "params", "needle"),
    [
        ("diagnose", {"limit": 0}, "--limit"),
        ("diagnose", {"samples": -2}, "--samples"),
        ("diagnose", {"source": ["x"]}, "no parameter 'source'"),
        ("grade", {"grader": "oracle"}, "--grader"),
        ("verify", {"dataset": "d", "spot_check_fraction": 1.5}, "--spot-check"),
        ("train", {"dataset": "d", "max_steps": 0}, "--max-steps"),
        ("teach", {}, "--dataset is required"),
        ("export", {"dataset": "d", "formats": ["csv"]}, "--format"),
    ],
)
def test_bad_params_are_refused_in_one_line(kind, params, needle):
    with pytest.raises(AcotdError) as err:
        validate_params(kind, params)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_form_refuses_text_in_a_number_field():
    with pytest.raises(AcotdError, match="limit: 'many' is not a number"):
        params_from_form("diagnose", {"limit": "many"})


def test_resume_revalidates_stored_params(tmp_path):
    """A job whose stored parameters no longer validate is refused with one line on resume,
    and its row is left as it was."""
    runner = CliRunner()
    root = tmp_path / "p"
    assert runner.invoke(cli, ["init", str(root)]).exit_code == 0
    from acotd_tui.project import Project

    with Project.open(root) as project:
        job = project.store.jobs.create("diagnose", {"limit": -5})
        project.store.jobs.finish(job.id, "failed", error="x")
    result = runner.invoke(cli, ["jobs", "-p", str(root), "resume", str(job.id)])
    assert result.exit_code != 0
    assert "--limit" in result.output and "Traceback" not in result.output
    with Project.open(root) as project:
        assert project.store.jobs.get(job.id).status == "failed"


def test_diagnose_new_only_reaches_the_stored_job(tmp_path):
    """The generated CLI options build the same stored parameters the form does."""
    from acotd_tui.stages import stage_from_cli

    values = {
        "sources": ("gsm8k",),
        "splits": (),
        "limit": 3,
        "samples": None,
        "new_only": True,
        "thinking": None,
        "adapter": None,
    }
    assert stage_from_cli("diagnose", values).to_job() == params_from_form(
        "diagnose", {"sources": "gsm8k", "limit": "3", "new_only": True}
    )


async def test_the_job_form_has_a_widget_per_field_type(tmp_path):
    """Diagnose's new-only is a switch, grade's grader a select, limits text inputs; a bad
    value is shown as one line and no job is written."""
    from textual.widgets import Input, Select, Static, Switch

    from acotd_tui.app import AcotdApp
    from acotd_tui.project import Project

    root = tmp_path / "p"
    assert CliRunner().invoke(cli, ["init", str(root)]).exit_code == 0
    with Project.open(root) as project:
        app = AcotdApp(project)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("6")
            await pilot.pause(0.3)
            await pilot.press("n")
            await pilot.pause(0.3)
            form = app.screen
            assert isinstance(form.query_one("#field-new_only"), Switch)
            assert isinstance(form.query_one("#field-limit"), Input)
            form.query_one("#kind", Select).value = "grade"
            await pilot.pause(0.3)
            assert isinstance(form.query_one("#field-grader"), Select)
            assert isinstance(form.query_one("#field-regrade"), Switch)
            form.query_one("#field-limit", Input).value = "0"
            await pilot.press("ctrl+s")
            await pilot.pause(0.3)
            error = str(form.query_one("#form-error", Static).render())
            assert "--limit" in error and "\n" not in error.strip()
        assert project.store.jobs.list(limit=5) == []
