"""The stage table: the CLI options, the app's job form and the stored job parameters all come
from one pydantic model per stage (acotd_tui/stages.py)."""

from __future__ import annotations

import re

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
    cli_options,
    field_specs,
    form_fields,
    params_from_form,
    validate_params,
)

# Every stage command, with the fields it takes otherwise than as a generated option (its
# argument; eval keeps no --allow-overlap flag) ...
SKIPPED = {
    "diagnose": (),
    "grade": (),
    "teach": ("dataset",),
    "eval": ("allow_overlap",),
    "train": ("dataset",),
    "experiment": ("name",),
    "verify": ("dataset",),
    "export": ("dataset",),
}
GENERATED_CLI = tuple(SKIPPED)  # commands with generated options
# Every command line whose options come from a model: its model (a stage kind, or a command
# model such as `sample`) and the fields it takes otherwise.
COMMANDS = {
    **{kind: (kind, skip) for kind, skip in SKIPPED.items()},
    "sample preview": ("sample", ()),
    "sample create": ("sample", ()),
}
# ... and the options every such command may add by hand: the project, the model overrides
# (they build `overrides`), the worker hand-off, and per command its non-stage extras.
SHARED = {"project_dir", "backend", "model_name", "api_base", "background"}
EXTRAS = {
    "grade": {"stats_only"},
    "teach": {"short_model", "long_model"},
    "sample create": {"name", "round_number"},  # the dataset's name and round: no sampling
}


def _command(line: str):
    command = cli
    for word in line.split():
        command = command.commands[word]
    return command


def _cli_params(kind: str) -> dict[str, object]:
    command = cli.commands[kind]
    return {p.name: p for p in command.params}


@pytest.mark.parametrize("kind", GENERATED_CLI)
def test_every_field_is_a_cli_option(kind):
    options = _cli_params(kind)
    not_options = set(SKIPPED[kind])
    for spec in field_specs(STAGES[kind]):
        if spec.name in not_options:  # teach's dataset is its argument; eval keeps no flag
            assert spec.name not in options or not options[spec.name].opts[0].startswith("-")
            continue
        if spec.cli:
            assert spec.name in options, f"{kind}: {spec.name} has no CLI option"
            assert spec.flag in options[spec.name].opts + options[spec.name].secondary_opts
            assert options[spec.name].help == spec.help


@pytest.mark.parametrize("line", sorted(COMMANDS))
def test_stage_commands_have_exactly_the_generated_options(line):
    """No hand-written option can creep back: apart from the shared ones, a command's options
    are exactly (the same objects as) those `cli_options` generates from its model."""
    command = _command(line)
    kind, skip = COMMANDS[line]
    generated = cli_options(kind, skip=skip)(lambda **_: None).__click_params__
    extras = SHARED | EXTRAS.get(line, set())
    own = [p for p in command.params if p.param_type_name == "option" and p.name not in extras]
    assert [p.to_info_dict() for p in own] == [p.to_info_dict() for p in reversed(generated)]
    arguments = {p.name for p in command.params if p.param_type_name == "argument"} - extras
    assert arguments == set(skip) - {"allow_overlap"}


# The flags `--help` listed before these commands' options were generated (the public
# interface): each must still be listed, spelled the same.
OLD_FLAGS = {
    "train": "--alpha --api-base --backend --background --batch-size --cpu --epochs --help --lr "
    "--max-length --max-steps --merge --model --name --project --rank --save-steps -h -p",
    "experiment": "--accept-nearest --background --baseline-model --benchmark --cotqs --epochs "
    "--from-reference --help --limit --max-steps --max-tokens --method --no-baseline "
    "--no-cotqs --no-thinking --paper --paper-reference --project --random-kinds --samples "
    "--size --thinking -h -k -n -p",
    "verify": "--api-base --backend --background --consistency --from-reference --help "
    "--max-regenerations --model --no-consistency --no-top-up --project --spot-check "
    "--top-up -h -p",
    "export": "--format --help --out --project -h -p",
    "sample preview": "--accept-nearest --cot --help --include-conflicts --no-decontaminate "
    "--project --ratios --seed --size --source --strategy -h -k -p",
    "sample create": "--accept-nearest --cot --help --include-conflicts --no-decontaminate "
    "--project --ratios --round --seed --size --source --strategy -h -k -p",
}


@pytest.mark.parametrize("line", sorted(OLD_FLAGS))
def test_help_still_lists_every_flag_it_listed(line):
    result = CliRunner().invoke(cli, [*line.split(), "--help"])
    assert result.exit_code == 0, result.output
    listed = set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", result.output))
    assert set(OLD_FLAGS[line].split()) <= listed


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "ds"], {"dataset": "ds"}),
        (
            ["train", "ds", "--cpu", "--lr", "2e-5", "--rank", "8", "--alpha", "16"]
            + ["--batch-size", "4", "--max-length", "512", "--save-steps", "5", "--merge"]
            + ["--epochs", "1.5", "--max-steps", "3", "--name", "r"],
            {
                "dataset": "ds",
                "name": "r",
                "device": "cpu",
                "max_steps": 3,
                "hyper": {
                    "epochs": 1.5,
                    "learning_rate": 2e-5,
                    "lora_rank": 8,
                    "lora_alpha": 16,
                    "effective_batch_size": 4,
                    "max_length": 512,
                    "save_steps": 5,
                    "merge": True,
                },
            },
        ),
        (["experiment"], {}),
        (
            ["experiment", "x", "--method", "random", "--method", "acotd", "-k", "5"]
            + ["--no-baseline", "--paper", "--baseline-model", "a/b", "--random-kinds", "short"]
            + ["--epochs", "1", "-n", "2", "--no-cotqs", "--accept-nearest", "--no-thinking"],
            {
                "name": "x",
                "methods": ["random", "acotd"],
                "k": 5,
                "baseline": False,
                "paper": True,
                "baselines": ["a/b"],
                "random_kinds": "short",
                "hyper": {"epochs": 1.0},
                "n": 2,
                "cotqs": False,
                "accept_nearest": True,
                "thinking": False,
            },
        ),
        (["verify", "ds"], {"dataset": "ds"}),
        (
            ["verify", "ds", "--spot-check", "0.5", "--no-top-up", "--max-regenerations", "0"]
            + ["--consistency", "--from-reference"],
            {
                "dataset": "ds",
                "spot_check_fraction": 0.5,
                "top_up": False,
                "max_regenerations": 0,
                "consistency": True,
                "from_reference": True,
            },
        ),
        (["export", "ds"], {"dataset": "ds"}),
        (
            ["export", "ds", "--format", "hf", "--out", "o"],
            {"dataset": "ds", "formats": ["hf"], "out": "o"},
        ),
    ],
)
def test_generated_options_build_the_old_parameters(args, expected):
    """Defaults and flags mean what they meant: no flag gives the model's defaults."""
    from acotd_tui.stages import stage_from_cli

    kind, *rest = args
    command = cli.commands[kind]
    values = dict(command.make_context(kind, rest).params)
    extra = {p.name: values.pop(p.name) for p in command.params if p.param_type_name == "argument"}
    for name in SHARED:
        values.pop(name, None)
    built = stage_from_cli(kind, values, **extra).to_job()
    assert built == STAGES[kind](**expected).to_job()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["verify", "d", "--spot-check", "1.5"], "0<=x<=1"),
        (["train", "d", "--epochs", "0"], "x>0"),
        (["train", "d", "--max-length", "8"], "x>=16"),
        (["experiment", "--method", "best"], "best"),
        (["experiment", "--random-kinds", "medium"], "medium"),
        (["export", "d", "--format", "csv"], "csv"),
        (["eval", "--top-p", "0"], "0<x<=1"),
    ],
)
def test_bounds_and_choices_are_refused_by_the_cli(args, needle):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and needle in result.output


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


def test_every_experiment_method_has_settings_and_a_row_name():
    """The methods are declared once (`stages.Method`); the experiment maps each one."""
    from acotd_tui.pipeline.experiment import METHOD_LABELS, METHODS
    from acotd_tui.stages import METHODS as DECLARED

    assert list(METHODS) == list(METHOD_LABELS) == list(DECLARED)


def test_vocabularies_are_declared_once():
    """grading.rule, grading.zte_grader, sampling.strategy, the CoT modes and the backends are
    one declaration each: the stages, the pipeline, the CLI's choices and the app's selects all
    read it."""
    from typing import get_args

    from acotd_tui import config, stages
    from acotd_tui.labels.aggregate import GRADING_RULES
    from acotd_tui.pipeline import sampling
    from acotd_tui.services import SAMPLING_COT_MODES, SAMPLING_STRATEGIES

    assert stages.Grader is config.Grader and stages.LabelRule is config.LabelRule
    assert get_args(config.LabelRule) == GRADING_RULES
    assert get_args(config.Strategy) == sampling.STRATEGIES
    assert [value for _, value in SAMPLING_STRATEGIES] == list(sampling.STRATEGIES)
    assert [value for _, value in SAMPLING_COT_MODES] == list(stages.COT_MODES)

    def choices(command, name):
        (param,) = [p for p in command.params if p.name == name]
        return tuple(param.type.choices)

    preview = cli.commands["sample"].commands["preview"]
    assert choices(preview, "strategy") == sampling.STRATEGIES
    assert choices(preview, "cot_mode") == stages.COT_MODES
    assert choices(cli.commands["grade"], "rule") == get_args(config.LabelRule)
    assert choices(cli.commands["grade"], "grader") == get_args(config.Grader)
    assert choices(cli.commands["train"], "backend") == get_args(config.Backend)
    assert choices(cli.commands["export"], "formats") == stages.FORMATS


def test_sample_options_mean_what_they_meant():
    """`sample preview/create`: no flag leaves every choice to `[sampling]` (None);
    --no-decontaminate and --include-conflicts still say what they said."""
    from acotd_tui.stages import SampleParams, stage_from_cli

    command = _command("sample preview")

    def params(*args: str) -> SampleParams:
        values = dict(command.make_context("preview", list(args)).params)
        values.pop("project_dir")
        return stage_from_cli("sample", values)

    assert params() == SampleParams()
    assert params().decontaminate is None and params().include_conflicts is None
    given = params("--no-decontaminate", "--include-conflicts", "--cot", "long", "-k", "7")
    assert given == SampleParams(decontaminate=False, include_conflicts=True, cot_mode="long", k=7)
    assert params("--source", "a", "--source", "b", "--ratios", "6:3:1").sources == ["a", "b"]
