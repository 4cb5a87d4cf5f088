"""LoRA SFT on the tiny model, evaluation with CoTQS, resume after a crash, the experiment."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from acotd_tui.cli import main
from acotd_tui.jobs import resume, spawn_worker, submit
from acotd_tui.pipeline.evaluate import EvalParams, accuracy, parse_cotqs
from acotd_tui.pipeline.experiment import ExperimentParams
from acotd_tui.pipeline.sampling import SamplingService
from acotd_tui.pipeline.teach import TeachParams
from acotd_tui.pipeline.verify import VerifyParams
from acotd_tui.store import EvalSample
from acotd_tui.training.job import TrainParams

from .test_diagnose import wait_for

COTQS_REPLY = (
    '{"logical_coherence": 4, "step_completeness": 3, "factual_correctness": 5, "rationale": "ok"}'
)


def prepared(project, name="toy", k=24, **sampling):
    service = SamplingService(project)
    service.create(name, service.default_request(k=k, **sampling))
    assert (
        submit(project, "teach", TeachParams(dataset=name, from_reference=True).to_job()).status
        == "done"
    )
    assert submit(project, "verify", VerifyParams(dataset=name).to_job()).status == "done"
    return name


def test_lora_sft_loss_falls_and_adapter_reloads(demo_project):
    project = demo_project
    name = prepared(project)
    job = submit(
        project,
        "train",
        TrainParams(
            dataset=name,
            hyper={
                "epochs": 8,
                "learning_rate": 5e-3,
                "effective_batch_size": 4,
                "eval_fraction": 0.0,
            },
        ).to_job(),
    )
    assert job.status == "done", job.error
    run = project.store.train_runs.get(name)
    assert run.status == "done" and Path(run.adapter_path, "adapter_config.json").exists()
    losses = [m.loss for m in project.store.train_runs.metrics(run.id, "train")]
    assert len(losses) == job.result["global_step"] >= 8
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3, losses
    spec = json.loads((project.runs_dir / f"train-{name}" / "train.json").read_text())
    assert (
        spec["lora_rank"] == 32
        and spec["lora_dropout"] == 0.1
        and spec["target_modules"] == "all-linear"
    )
    assert (project.runs_dir / f"train-{name}" / "llamafactory.yaml").read_text().count(
        "finetuning_type: lora"
    ) == 1

    # The saved adapter loads on the base model and changes its outputs.
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir = project.root / "runs" / "tiny-student"
    tok = AutoTokenizer.from_pretrained(base_dir)
    ids = tok("What is 2+2?", return_tensors="pt")
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    with torch.no_grad():
        before = base(**ids).logits
        tuned = PeftModel.from_pretrained(base, run.adapter_path)
        after = tuned(**ids).logits
    assert not torch.allclose(before, after)
    # Training the same run again does nothing.
    again = submit(project, "train", TrainParams(dataset=name).to_job())
    assert "already trained" in again.result["message"]


def test_killed_training_resumes_from_its_checkpoint(demo_project):
    project = demo_project
    name = prepared(project, k=16)
    job = project.store.jobs.create(
        "train",
        TrainParams(
            dataset=name,
            hyper={"save_steps": 2, "effective_batch_size": 1, "eval_fraction": 0.0},
            max_steps=24,
        ).to_job(),
    )
    pid = spawn_worker(project.root, job.id)
    output = project.runs_dir / f"train-{name}" / "output"
    assert wait_for(lambda: any(output.glob("checkpoint-*/trainer_state.json")), timeout=120)
    os.killpg(pid, signal.SIGKILL)  # the worker and the training process: a crash
    os.waitpid(pid, 0)
    assert project.store.jobs.get(job.id).stale
    done = resume(project, job.id)
    assert done.status == "done", done.error
    result = json.loads((output / "result.json").read_text())
    assert (
        result["resumed_from"]
        and "checkpoint-" in result["resumed_from"]
        and result["global_step"] == 24
    )
    steps = [
        m.step
        for m in project.store.train_runs.metrics(project.store.train_runs.get(name).id, "train")
    ]
    assert steps == list(range(1, 25))


def test_partial_checkpoints_are_skipped_and_removed(tmp_path):
    from acotd_tui.training.run import last_complete_checkpoint

    for step, complete in ((2, True), (4, True), (6, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "trainer_state.json").write_text("{}")
            (folder / "optimizer.pt").write_bytes(b"x")
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert not (tmp_path / "checkpoint-6").exists()
    assert last_complete_checkpoint(tmp_path / "missing") is None


def test_real_size_model_is_refused_without_gpu(demo_project, tmp_path):
    import torch

    from acotd_tui.tiny_model import qwen3_1p7b_config

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    big = tmp_path / "qwen3-1.7b-config"
    qwen3_1p7b_config().save_pretrained(big)
    name = prepared(demo_project, k=4)
    job = submit(
        demo_project, "train", TrainParams(dataset=name, overrides={"model": str(big)}).to_job()
    )
    assert job.status == "failed"
    assert "no GPU visible: LoRA training of" in job.error and "(1.7B parameters)" in job.error


def test_accuracy_and_cotqs_parsing():
    def s(i, j, ok):
        return EvalSample(i, j, b"h", "1", "1", ok, False, "", "", 1)

    samples = [s(0, 0, True), s(0, 1, False), s(1, 0, True), s(1, 1, True)]
    mean, std = accuracy(samples, 2)
    assert mean == pytest.approx(0.75) and std == pytest.approx(
        0.35355, rel=1e-4
    )  # runs: 1.0 and 0.5
    assert accuracy([s(0, 0, True)], 1) == (1.0, 0.0)
    assert parse_cotqs(COTQS_REPLY) == (4.0, 3.0, 5.0)
    assert (
        parse_cotqs('{"logical_coherence": 7, "step_completeness": 3, "factual_correctness": 5}')
        is None
    )
    assert parse_cotqs("great") is None


def test_eval_with_cotqs_and_overlap_refusal(demo_project, llm_server, point_at, tmp_path):
    project = demo_project
    point_at(project, llm_server, roles=("cotqs_judge",))
    llm_server.configure(default_reply=COTQS_REPLY)
    # A training set that (carelessly) contains a MATH500 problem.
    from acotd_tui.benchmarks import load_benchmark
    from acotd_tui.importing import import_files
    from acotd_tui.store import NewGrade

    leak = load_benchmark("math500").items[0]
    path = tmp_path / "leak.jsonl"
    path.write_text(
        json.dumps(
            {
                "problem": leak.problem,
                "answer": leak.answer,
                "solution": f"Trivially $\\boxed{{{leak.answer}}}$.",
            }
        )
        + "\n"
    )
    import_files(project.store, [path])
    pid = project.store.problems.id_by_hash(leak.problem)
    project.store.grades.add([NewGrade(pid, "emh", "H", "judge")])
    service = SamplingService(project)
    service.create(
        "leaky",
        service.default_request(
            k=300,
            strategy="fixed",
            ratios={"E": 0, "M": 0, "H": 1},
            decontaminate=False,
            accept_nearest=True,
        ),
    )
    assert pid in [
        i.problem_id for i in project.store.datasets.items(project.store.datasets.get("leaky").id)
    ]
    submit(project, "teach", TeachParams(dataset="leaky", from_reference=True).to_job())
    submit(project, "verify", VerifyParams(dataset="leaky").to_job())
    assert (
        submit(project, "train", TrainParams(dataset="leaky", max_steps=1).to_job()).status
        == "done"
    )
    refused = submit(
        project, "eval", EvalParams(benchmarks=["math500"], adapter="leaky", limit=5, n=1).to_job()
    )
    assert refused.status == "failed" and "were in the training set of leaky" in refused.error
    assert project.store.evals.all() == []

    # The first sample per problem only (the default judges every sample).
    project.edit_config({"eval.cotqs_samples": 1})
    assert project.config.eval.cotqs_samples == 1
    eval_base = ["eval", "-p", str(project.root), "--benchmark", "amc23", "--benchmark", "aime25"]
    eval_base += ["--limit", "3", "-n", "2", "--max-tokens", "16", "--name", "base"]
    result = CliRunner().invoke(main, eval_base)
    assert result.exit_code == 0, result.output
    evals = {e.benchmark: e for e in project.store.evals.all()}
    assert set(evals) == {"amc23", "aime25"}
    for ev in evals.values():
        samples = project.store.evals.samples(ev.id)
        assert len(samples) == 6 and ev.status == "done"
        assert (ev.acc_mean, ev.acc_std) == accuracy(samples, 2)
        assert (
            ev.cotqs == pytest.approx(4.0) and ev.cotqs_detail["judged"] == 3
        )  # first sample per problem
    calls = len(llm_server.log())
    again = CliRunner().invoke(main, eval_base)
    assert again.exit_code == 0 and len(llm_server.log()) == calls  # nothing redone


@pytest.mark.slow
def test_experiment_on_the_tiny_setup(demo_project, llm_server, point_at):
    project = demo_project
    point_at(project, llm_server, roles=("cotqs_judge",))
    llm_server.configure(default_reply=COTQS_REPLY)
    params = ExperimentParams(
        name="tiny",
        k=12,
        n=1,
        limit=2,
        max_tokens=16,
        from_reference=True,
        max_steps=2,
        benchmarks=["amc23", "math500"],
    )
    job = submit(project, "experiment", params.to_job())
    assert job.status == "done", job.error
    out = Path(job.result["report"])
    table3 = (out / "table3.md").read_text()
    table4 = (out / "table4.md").read_text()
    # The paper's layout: Table 3 = baselines vs ACoTD, Table 4 = ablations vs ACoTD; every
    # row has Acc and CoTQS (mean ± std) per benchmark.
    for row in ("student (thinking on)", "student (thinking off)", "ACoTD"):
        assert f"| {row} |" in table3
    for row in ("Random Sampling", "Fixed 6:3:1", "Only short CoT", "Only long CoT", "ACoTD"):
        assert f"| {row} |" in table4
    assert "| Random Sampling |" not in table3 and "| student (thinking on) |" not in table4
    for table in (table3, table4):
        assert "AMC23 Acc" in table and "MATH500 CoTQS" in table and "4.00" in table
    assert (out / "table3.tex").exists() and (out / "table4.png").stat().st_size > 1000
    assert (out / "gains.png").stat().st_size > 1000
    assert set(job.result["rows"]) >= {
        "tiny-base",
        "tiny-base-nothink",
        "tiny-acotd",
        "tiny-random",
    }
    random_items = project.store.datasets.items(project.store.datasets.get("tiny-random").id)
    assert {i.label for i in random_items} == {"-"}  # no classification
    assert (out / "accuracy.png").stat().st_size > 1000 and (out / "loss.png").stat().st_size > 1000
    long_items = project.store.datasets.items(project.store.datasets.get("tiny-only_long").id)
    assert {i.cot_kind for i in long_items} == {"long"}
    children = [j for j in project.store.jobs.list() if j.parent_id == job.id]
    assert sum(j.kind == "train" for j in children) == 5
    nothink = [e for e in project.store.evals.all() if e.name == "tiny-base-nothink"]
    assert nothink and all(e.params["sampling"]["enable_thinking"] is False for e in nothink)

    # Re-running reuses everything: no training, no new judge calls.
    calls = len(llm_server.log())
    again = submit(project, "experiment", params.to_job())
    assert again.status == "done"
    new_children = [j for j in project.store.jobs.list() if j.parent_id == again.id]
    assert not any(j.kind == "train" for j in new_children)
    assert len(llm_server.log()) == calls
