"""A tiny Qwen3-architecture student, built locally: for the demo and the tests.

No weights or tokenizers can be downloaded here, so the model is made from a `Qwen3Config`
(random weights, fixed seed) and the tokenizer is a byte-level BPE trained on the bundled
problems. The chat template follows Qwen3's: `<|im_start|>role ... <|im_end|>` turns, and
`enable_thinking=False` pre-fills an empty `<think></think>` block. head_dim is 64 because
vLLM's CPU attention rejects smaller heads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}"
    "{{ '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif -%}"
    "{%- endif -%}"
)


def _corpus() -> Iterator[str]:
    base = resources.files("acotd_tui") / "data" / "demo"
    for name in ("gsm8k_problems.jsonl", "math_problems.jsonl", "processbench_attempts.jsonl"):
        with (base / name).open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                for key in ("problem", "question", "answer", "solution"):
                    if isinstance(row.get(key), str):
                        yield row[key]
                yield from row.get("steps", [])
    yield "The answer is \\boxed{42}. <think> Let me think step by step. </think>"


def build_tokenizer(out_dir: Path, vocab_size: int = 2048, extra_special: tuple[str, ...] = ()):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[*SPECIAL_TOKENS, *extra_special],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        additional_special_tokens=[*SPECIAL_TOKENS[1:], *extra_special],
        model_max_length=4096,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    fast.save_pretrained(out_dir)
    return fast


def qwen3_1p7b_config(**overrides):
    """The published architecture of Qwen/Qwen3-1.7B (no weights): for real-size runs with
    random weights where nothing can be downloaded (GPU benchmark, the no-GPU refusal test)."""
    from transformers import Qwen3Config

    shape = dict(
        vocab_size=151936,
        hidden_size=2048,
        intermediate_size=6144,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=40960,
        rope_theta=1_000_000,
        tie_word_embeddings=True,
    )
    return Qwen3Config(**{**shape, **overrides})


def build_tiny_model(
    out_dir: Path | str,
    *,
    hidden_size: int = 128,
    layers: int = 2,
    seed: int = 0,
) -> Path:
    """Write a loadable model folder (config, safetensors weights, tokenizer) and return it."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(out)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=64,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    )
    torch.manual_seed(seed)
    # transformers annotates `to` through a wrapper that drops its signature (a dtype is valid).
    model = Qwen3ForCausalLM(config).to(torch.float32)  # type: ignore[arg-type]
    model.generation_config = GenerationConfig(
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        do_sample=True,
        temperature=0.6,
        top_p=0.95,
    )
    model.save_pretrained(out)
    return out


def build_tiny_prm(out_dir: Path | str, *, seed: int = 0) -> Path:
    """A tiny process reward model in the Qwen2.5-Math-PRM shape: two-class logits per token,
    read at `<extra_0>` step separators (see pipeline/prm.py)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForTokenClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(out, extra_special=("<extra_0>",))
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=1,
        num_key_value_heads=1,
        head_dim=64,
        # a PretrainedConfig keyword that Qwen3Config's own annotations leave out
        num_labels=2,  # type: ignore[call-arg]
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    )
    torch.manual_seed(seed)
    Qwen3ForTokenClassification(config).save_pretrained(out)
    return out
