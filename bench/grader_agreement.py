"""Judge calibration: agreement of a configured judge with ground truth on real data.

Runs the project's judge (acotd.toml [models.judge], or --model/--api-base) through the real
grading stage on: GSM8K solutions by four GPT-3 systems and Qwen2.5-Math samples (known
correctness), ProcessBench solutions (human experts' earliest wrong step -> E/M/H), and the
project's own human labels. Prints agreement and Cohen's kappa. Costs real API calls:
--n sets the sample size (default 200 solutions).

    python bench/grader_agreement.py --project DIR [--n 200] [--model M] [--api-base URL]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from acotd_tui.pipeline.calibration import AgreementRow, human_agreement, run_calibration
from acotd_tui.project import Project

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def show(rows: list[AgreementRow]) -> None:
    print(f"{'yardstick':40} {'n':>6} {'agree':>7} {'kappa':>7}")
    for r in rows:
        agree = "-" if r.agreement is None else f"{r.agreement:.1%}"
        kappa = "-" if r.kappa is None else f"{r.kappa:.3f}"
        print(f"{r.name:40} {r.compared:>6} {agree:>7} {kappa:>7}")
        if r.confusion:
            labels = list(r.confusion)
            print("    judge\\truth " + " ".join(f"{h:>5}" for h in labels))
            for a in labels:
                print(f"    {a:11} " + " ".join(f"{r.confusion[a][h]:>5}" for h in labels))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--project", required=True, help="project whose judge config (and human labels) to use"
    )
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None)
    ap.add_argument("--api-base", default=None)
    ap.add_argument("--shared", type=Path, default=SHARED)
    args = ap.parse_args()
    project = Project.open(args.project)
    overrides = {k: v for k, v in {"model": args.model, "api_base": args.api_base}.items() if v}
    rows = run_calibration(
        project.config_path.read_text(), args.shared, n=args.n, seed=args.seed, overrides=overrides
    )
    rows.append(human_agreement(project))
    show(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
