"""Rebuild acotd_tui/data/ (the demo project's data and the bundled benchmarks) from ../shared/data.

Deterministic: the same inputs give byte-identical outputs. Run from the repository root:

    python scripts/build_bundled_data.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "acotd_tui" / "data"
GSM8K_DEMO = 200  # GSM8K test problems with the four GPT-3 models' solutions
MATH_DEMO = 200  # MATH train problems, not yet diagnosed
PB_GSM8K = 150  # ProcessBench GSM8K solutions with expert step labels
PB_MATH = 150  # ProcessBench MATH solutions (none from MATH500)


def norm(text: str) -> str:
    return " ".join(text.split())


def read(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def benchmarks(shared: Path) -> None:
    out = OUT / "benchmarks"
    write(
        out / "amc23.jsonl",
        [
            {"problem": r["problem"], "answer": r["answer"]}
            for r in read(shared / "amc23/test.jsonl")
        ],
    )
    write(
        out / "aime24.jsonl",
        [
            {"problem": r["problem"], "answer": r["answer"]}
            for r in read(shared / "aime24/test.jsonl")
        ],
    )
    write(
        out / "aime25.jsonl",
        [
            {"problem": r["problem"], "answer": r["answer"]}
            for r in read(shared / "aime25/test.jsonl")
        ],
    )
    write(
        out / "math500.jsonl",
        [
            {
                "problem": r["problem"],
                "answer": r["answer"],
                "level": r["level"],
                "subject": r["subject"],
                "unique_id": r["unique_id"],
            }
            for r in read(shared / "math500/test.jsonl")
        ],
    )
    write(
        out / "gsm8k_test.jsonl",
        [
            {"problem": r["question"], "answer": r["final"]}
            for r in read(shared / "gsm8k/test.jsonl")
        ],
    )


def demo(shared: Path) -> None:
    rng = random.Random(20251124)
    out = OUT / "demo"
    math500 = {norm(r["problem"]) for r in read(shared / "math500/test.jsonl")}
    gsm_test = read(shared / "gsm8k/test.jsonl")
    gsm_by_text = {norm(r["question"]): r for r in gsm_test}
    math_rows = read(shared / "math/test.jsonl") + read(shared / "math/train.jsonl")
    math_by_text = {norm(r["problem"]): r for r in math_rows}

    # ProcessBench: expert-labelled student solutions; their problems come with reference answers.
    def worked(split: str, ref: dict) -> str:
        if split == "gsm8k":  # drop the calculator annotations and the '#### N' line
            text = re.sub(r"<<[^>]*>>", "", ref["answer"]).split("####")[0].strip()
            return f"{text}\n\nThe answer is $\\boxed{{{ref['final']}}}$."
        return ref["solution"]

    pb_rows = []
    for split, count, lookup in (("gsm8k", PB_GSM8K, gsm_by_text), ("math", PB_MATH, math_by_text)):
        rows = [
            r
            for r in read(shared / f"processbench/{split}.jsonl")
            if norm(r["problem"]) not in math500
        ]
        rows = [r for r in rows if norm(r["problem"]) in lookup]
        rng.shuffle(rows)
        for r in sorted(rows[:count], key=lambda r: r["id"]):
            ref = lookup[norm(r["problem"])]
            answer = ref.get("final") if split == "gsm8k" else ref.get("answer")
            if split == "math" and not answer:
                from acotd_tui.answers import extract_last_boxed

                answer = extract_last_boxed(ref["solution"])
            pb_rows.append(
                {
                    **r,
                    "reference_answer": answer,
                    "reference_solution": worked(split, ref),
                    "subject": ref.get("type") or ref.get("subject"),
                    "level": ref.get("level"),
                }
            )
    write(
        out / "processbench_attempts.jsonl",
        [{k: v for k, v in r.items() if k != "reference_solution"} for r in pb_rows],
    )
    write(
        out / "processbench_problems.jsonl",
        [
            {
                "problem": r["problem"],
                "answer": r["reference_answer"],
                "solution": r["reference_solution"],
                "subject": r["subject"],
                "level": r["level"],
                "processbench_id": r["id"],
            }
            for r in pb_rows
        ],
    )

    pb_texts = {norm(r["problem"]) for r in pb_rows}
    sols = [
        r
        for r in read(shared / "gsm8k/model_solutions.jsonl")
        if norm(r["question"]) not in pb_texts
    ]
    rng.shuffle(sols)
    sols = sorted(sols[:GSM8K_DEMO], key=lambda r: r["question"])
    write(out / "gsm8k_model_solutions.jsonl", sols)
    write(
        out / "gsm8k_problems.jsonl",
        [
            {
                "question": gsm_by_text[norm(r["question"])]["question"],
                "answer": gsm_by_text[norm(r["question"])]["answer"],
            }
            for r in sols
        ],
    )

    train = [
        r
        for r in read(shared / "math/train.jsonl")
        if r["unique_id"].startswith("train/") and r["answer"]
    ]
    rng.shuffle(train)
    write(
        out / "math_problems.jsonl",
        [
            {k: r[k] for k in ("problem", "solution", "answer", "subject", "level", "unique_id")}
            for r in sorted(train[:MATH_DEMO], key=lambda r: r["unique_id"])
        ],
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    args = ap.parse_args()
    benchmarks(args.shared)
    demo(args.shared)
    for p in sorted(OUT.rglob("*.jsonl")):
        rows = len(p.read_text(encoding="utf-8").splitlines())
        print(f"{p.relative_to(OUT)}: {rows} rows, {p.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
