"""Real-size LoRA SFT speed and memory on a GPU, through acotd's own training process.

No weights can be downloaded on the lent GPU machines, so the model is Qwen3-1.7B's
architecture built from its config with random weights (speed and memory depend on the
shapes, not the values). Training data: the bundled real MATH problems with their worked
solutions, in the exact format `acotd export` writes (Qwen3 `<think>` assistant turns).
Runs `python -m acotd_tui.training.run` with the paper's LoRA settings (rank 32, alpha 32,
dropout 0.1, all linear layers, lr 1e-5, effective batch 16, cosine, warmup 0.03, weight
decay 0.01, packing, bf16) at one or more sequence lengths, then measures the transformers
backend's batched generation. Prints a table and writes gpu_results.json.

    python bench/gpu_train.py --out DIR [--lengths 4096 16384] [--steps 6]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path


def build_model(folder: Path) -> Path:
    import torch
    from transformers import Qwen3ForCausalLM

    from acotd_tui.tiny_model import build_tokenizer, qwen3_1p7b_config

    if (folder / "model.safetensors.index.json").exists() or (
        folder / "model.safetensors"
    ).exists():
        return folder
    tokenizer = build_tokenizer(folder)
    config = qwen3_1p7b_config(
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen3ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    del model
    torch.cuda.empty_cache()
    return folder


def training_data(path: Path) -> int:
    from acotd_tui.pipeline.teach import split_teacher_output
    from acotd_tui.templates import load_template

    template = load_template("diagnose_v1")
    rows = []
    text = (resources.files("acotd_tui") / "data" / "demo" / "math_problems.jsonl").read_text(
        encoding="utf-8"
    )
    for line in text.splitlines():
        r = json.loads(line)
        reasoning, answer = split_teacher_output(r["solution"])
        messages = [
            *template.render(problem=r["problem"]),
            {"role": "assistant", "content": f"<think>\n{reasoning}\n</think>\n\n{answer}"},
        ]
        rows.append(json.dumps({"messages": messages}))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return len(rows)


def train(
    project: Path,
    model: Path,
    data: Path,
    length: int,
    steps: int,
    out: Path,
    *,
    checkpointing: bool = True,
    per_device: int = 1,
) -> dict:
    from acotd_tui.project import Project
    from acotd_tui.training.spec import TrainSpec

    with Project.open(project) as p:
        tag = f"{length}-gc{int(checkpointing)}-b{per_device}"
        run = p.store.train_runs.ensure(
            f"gpu-{tag}",
            dataset_id=None,
            base_model=str(model),
            config={},
            output_dir=str(out / f"run-{tag}"),
        )
        spec = TrainSpec.from_config(
            p.config.training,
            run_name=run.name,
            project_root=str(project),
            run_id=run.id,
            job_id=None,
            base_model=str(model),
            data_file=str(data),
            output_dir=run.output_dir,
            max_steps=steps,
        )
    spec.max_length = length
    spec.gradient_checkpointing = checkpointing
    spec.per_device_batch_size = per_device
    spec.gradient_accumulation_steps = max(1, 16 // per_device)
    spec.epochs = 1000  # the step limit ends the run
    spec.eval_fraction = 0.0
    spec.save_steps = 10_000
    spec_path = spec.save(out / f"spec-{tag}")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "acotd_tui.training.run", str(spec_path.resolve())],
        capture_output=True,
        text=True,
        cwd=out,  # not the checkout: `-m` would import its unmapped source tree first
    )
    wall = time.perf_counter() - started
    (out / f"train-{tag}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        return {
            "length": length,
            "checkpointing": checkpointing,
            "per_device": per_device,
            "error": (proc.stderr or proc.stdout).strip().splitlines()[-1][:300],
        }
    result = json.loads((Path(run.output_dir) / "result.json").read_text())
    result.update(
        length=length,
        wall_s=wall,
        effective_batch=spec.effective_batch_size,
        checkpointing=checkpointing,
        per_device=per_device,
    )
    return result


def generate(model: Path, batch: int, new_tokens: int) -> dict:
    import asyncio

    from acotd_tui.backends import ChatRequest, SamplingParams
    from acotd_tui.backends.local_transformers import TransformersBackend
    from acotd_tui.config import ModelRole

    backend = TransformersBackend(
        ModelRole(backend="transformers", model=str(model), batch_size=batch, dtype="bfloat16")
    )
    backend.load()
    params = SamplingParams(temperature=0.6, top_p=0.95, max_tokens=new_tokens, seed=0)
    requests = [
        ChatRequest(({"role": "user", "content": f"Problem {i}: what is {i} squared?"},), params)
        for i in range(batch)
    ]
    backend.generate_batch(requests[:4])  # warm-up
    started = time.perf_counter()
    results = backend.generate_batch(requests)
    elapsed = time.perf_counter() - started
    tokens = sum(r.tokens_out for r in results)
    asyncio.run(backend.aclose())
    return {
        "batch": batch,
        "new_tokens": new_tokens,
        "tokens_out": tokens,
        "seconds": elapsed,
        "tokens_per_s": tokens / elapsed,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--lengths", type=int, nargs="+", default=[4096, 16384])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--gen-batch", type=int, default=64)
    ap.add_argument("--gen-tokens", type=int, default=256)
    ap.add_argument(
        "--variants",
        nargs="*",
        default=["1:1"],
        help="CHECKPOINTING:PER_DEVICE pairs, e.g. 1:1 0:1 0:4",
    )
    ap.add_argument("--no-generate", action="store_true")
    args = ap.parse_args()
    import torch

    from acotd_tui.project import Project

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    project = out / "project"
    if not (project / "acotd.toml").exists():
        Project.init(project).close()
    info = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    started = time.perf_counter()
    model = build_model(out / "qwen3-1.7b-shape")
    info["model_build_s"] = time.perf_counter() - started
    rows = training_data(out / "messages.jsonl")
    info["train_rows"] = rows
    results = {"info": info, "train": [], "generate": None}
    for length in args.lengths:
        for variant in args.variants:
            gc, per_device = (int(x) for x in variant.split(":"))
            results["train"].append(
                train(
                    project,
                    model,
                    out / "messages.jsonl",
                    length,
                    args.steps,
                    out,
                    checkpointing=bool(gc),
                    per_device=per_device,
                )
            )
            (out / "gpu_results.json").write_text(json.dumps(results, indent=2))
    if not args.no_generate:
        results["generate"] = generate(model, args.gen_batch, args.gen_tokens)
    (out / "gpu_results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(info))
    print(
        f"{'seq len':>8} {'ckpt':>4} {'batch/dev':>9} {'eff batch':>9} {'steps':>5} {'steps/s':>8} {'tokens/s':>9} {'peak GiB':>8}"
    )
    for r in results["train"]:
        if "error" in r:
            print(
                f"{r['length']:>8} {int(r['checkpointing']):>4} {r['per_device']:>9} error: {r['error']}"
            )
            continue
        print(
            f"{r['length']:>8} {int(r['checkpointing']):>4} {r['per_device']:>9} {r['effective_batch']:>9} {r['global_step']:>5} {r['steps_per_s']:>8.3f} {r['tokens_per_s'] or 0:>9.0f} {r['peak_memory_gb']:>8.1f}"
        )
    g = results["generate"]
    if g:
        print(
            f"generate (transformers, bf16): batch {g['batch']} x {g['new_tokens']} tokens: {g['tokens_per_s']:.0f} tokens/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
