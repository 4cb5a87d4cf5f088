"""Build tests/data/answer_pairs.jsonl: real (reference, answer, equal) pairs for the checker.

Run from the repository root: `python scripts/build_answer_pairs.py [SHARED_DATA_DIR]`
(default ../shared/data). Each line: `reference`, `answer`, `equal` (the verdict we hold to
be right), `source`, `why`, and where the source file carried a correctness label, `label`
(as given) and, where we disagree with it, `disagree` (our reason). Sources:

- qwen25_math_samples: Qwen2.5-Math's 8 sampled answers per MATH problem with `score`;
  reference = the row's `answer` (the boxed text; `gt` is a lossy copy: `4:30p..`).
- processbench/math: model solutions with `final_answer_correct`; reference = the MATH
  answer of the same problem (matched by problem text), answer = the last `\\boxed{}` of the
  steps. Only pairs whose texts differ (identical strings test nothing).
- gsm8k/model_solutions: GPT-3 solutions with `is_correct`, answers that are not plain
  integers (commas, decimals, units) and near misses of integer references.
- math500, amc23, aime24/25: real references with answers written in other notations (the
  same value: true) or changed in one detail (false), each rewrite named in `why`.
- defects: the classes named in issue 16 (list-valued answers, tuples, several answers,
  `8 \\%`, `6m`, `m_{\\max }=…`, tiny references), written by hand.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from acotd_tui.answers import extract_final_answer, extract_last_boxed  # noqa: E402

OUT = ROOT / "tests" / "data" / "answer_pairs.jsonl"

# Labels in the source files we hold to be wrong, with the reason. Keyed (source, ref, answer).
DISAGREE: dict[tuple[str, str, str], tuple[bool, str]] = {
    ("qwen25_math_samples", "10{,}000", "10000"): (
        True,
        "`10{,}000` is 10000 with a LaTeX thousands comma; the sampler's grader missed `{,}`",
    ),
    ("qwen25_math_samples", "\\text{4:30 p.m.}", "4:30"): (
        True,
        "the question asks the time 'in the afternoon', so 4:30 is 4:30 p.m.",
    ),
    # ProcessBench marks these final answers wrong though they equal the reference in value;
    # most problems ask for a *simplified* fraction or expression. Checking here is by value
    # (a form requirement is the judge's business), so they count as equal.
    ("processbench/math", "\\frac{137}{111}", "\\frac{411}{333}"): (
        True,
        "411/333 = 137/111 (both /3); labelled wrong, probably for not being in lowest terms",
    ),
    ("processbench/math", "-\\dfrac{2}{3}", "-\\frac{58}{87}"): (
        True,
        "-58/87 = -2/3 (both /29); labelled wrong, probably for not being simplified",
    ),
    ("processbench/math", "11.5", "\\frac{23}{2}"): (True, "23/2 = 11.5 exactly"),
    ("processbench/math", "\\frac{21}{2}\\pi", "10.5\\pi"): (True, "10.5 = 21/2 exactly"),
    ("processbench/math", "\\cot x", "\\frac{1}{\\sin x \\cos x} - \\tan x"): (
        True,
        "1/(sin x cos x) - tan x = (1 - sin^2 x)/(sin x cos x) = cot x; labelled wrong,"
        " probably for not being simplified",
    ),
}


def _literal(value: object) -> list:
    """Qwen's sample files hold lists either as lists or as Python-literal strings."""
    if isinstance(value, str):
        return list(ast.literal_eval(value))
    return list(value) if isinstance(value, list | tuple) else [value]


def qwen_pairs(data: Path) -> list[dict]:
    out: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for line in (data / "qwen25_math_samples" / "math_cot_100.jsonl").open():
        row = json.loads(line)
        reference = str(row["answer"])
        for pred, score in zip(_literal(row["pred"]), _literal(row["score"]), strict=True):
            key = (reference, str(pred))
            if key in seen or (pred == reference and len(seen) % 4):
                continue  # identical strings: keep only a few
            seen.add(key)
            out.append(
                _pair("qwen25_math_samples", reference, str(pred), bool(score), "sampled answer")
            )
    return out


def processbench_pairs(data: Path) -> list[dict]:
    references: dict[str, str] = {}
    for name in ("math/test.jsonl", "math500/test.jsonl", "math/train.jsonl"):
        for line in (data / name).open():
            row = json.loads(line)
            answer = row.get("answer") or extract_last_boxed(row["solution"])
            if answer:
                references[row["problem"].strip()] = answer
    out: list[dict] = []
    seen: set[tuple[str, str]] = set()
    wrong = 0
    for line in (data / "processbench" / "math.jsonl").open():
        row = json.loads(line)
        reference = references.get(row["problem"].strip())
        answer = extract_last_boxed("\n".join(row["steps"]))
        if reference is None or answer is None:
            continue
        if "".join(answer.split()) == "".join(reference.split()) or (reference, answer) in seen:
            continue
        seen.add((reference, answer))
        label = bool(row["final_answer_correct"])
        if not label and ("processbench/math", reference, answer) not in DISAGREE:
            wrong += 1
            if wrong > 70:  # wrong answers are plentiful; keep the table reviewable
                continue
        out.append(_pair("processbench/math", reference, answer, label, f"{row['id']}"))
    return out


def gsm8k_pairs(data: Path) -> list[dict]:
    """Answers that are not plain integers (commas, decimals), near misses, a few plain ones."""
    written, near, plain, seen = [], [], [], set()
    systems = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
    for line in (data / "gsm8k" / "model_solutions.jsonl").open():
        row = json.loads(line)
        reference = extract_final_answer(row["ground_truth"]) or ""
        for system in systems:
            answer = extract_final_answer(row[system]["solution"])
            if answer is None or (reference, answer) in seen:
                continue
            seen.add((reference, answer))
            pair = _pair(
                "gsm8k/model_solutions", reference, answer, row[system]["is_correct"], system
            )
            try:
                ratio = float(answer.replace(",", "")) / float(reference)
            except (ValueError, ZeroDivisionError):
                ratio = 0.0
            if answer.lstrip("-").isdigit():
                plain.append(pair)
            elif 0.99 < ratio < 1.01:
                near.append(pair)
            else:
                written.append(pair)
    return written[:30] + near[:15] + plain[:10]


def _pair(source: str, reference: str, answer: str, label: bool, why: str) -> dict:
    row = {
        "reference": reference,
        "answer": answer,
        "equal": label,
        "source": source,
        "why": why,
        "label": label,
    }
    override = DISAGREE.get((source, reference, answer))
    if override is not None:
        row["equal"], row["disagree"] = override
    return row


# Rewrites of real references: (reference, answer, equal, why). The references are copied from
# math500/test.jsonl, amc23, aime24/25 (checked by `benchmark_references_exist`).
REWRITES: list[tuple[str, str, str, bool, str]] = [
    (
        "math500",
        "\\left( 3, \\frac{\\pi}{2} \\right)",
        "(3, \\frac{\\pi}{2})",
        True,
        "tuple without \\left/\\right",
    ),
    ("math500", "\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\pi/2)", True, "tuple, slash fraction"),
    (
        "math500",
        "\\left( 3, \\frac{\\pi}{2} \\right)",
        "(\\frac{\\pi}{2}, 3)",
        False,
        "tuple order matters",
    ),
    (
        "math500",
        "\\left( 3, \\frac{\\pi}{2} \\right)",
        "[3, \\frac{\\pi}{2}]",
        False,
        "brackets of a point matter",
    ),
    (
        "math500",
        "\\left( 3, \\frac{\\pi}{2} \\right)",
        "['(3, \\\\frac{\\\\pi}{2})']",
        True,
        "one-element list text",
    ),
    ("math500", "p - q", "-q + p", True, "reordered expression"),
    ("math500", "p - q", "q - p", False, "sign flipped"),
    ("math500", "\\frac{14}{3}", "4\\frac{2}{3}", True, "mixed number"),
    ("math500", "\\frac{14}{3}", "4.666667", True, "decimal within 1e-6 relative"),
    ("math500", "\\frac{14}{3}", "4.67", False, "decimal rounded too coarsely"),
    ("math500", "9", "9.0", True, "integer written as decimal"),
    ("math500", "9", "9.000001", False, "integer references are exact"),
    ("math500", "\\text{Evelyn}", "Evelyn", True, "name without \\text"),
    ("math500", "\\text{Evelyn}", "evelyn", True, "case of a name"),
    ("math500", "\\text{Evelyn}", "Bob", False, "another name"),
    ("math500", "42", "42^\\circ", True, "degree sign"),
    ("math500", "-2 + 7i", "7i - 2", True, "complex number reordered"),
    ("math500", "-2 + 7i", "-2 - 7i", False, "conjugate"),
    ("math500", "\\dfrac{17}{50}", "\\frac{17}{50}", True, "\\dfrac"),
    ("math500", "\\dfrac{17}{50}", "$0.34$", True, "exact decimal in dollars"),
    ("math500", "\\dfrac{17}{50}", "\\frac{17}{5}", False, "digit dropped"),
    ("math500", "1,-2", "-2, 1", True, "several answers in another order"),
    ("math500", "1,-2", "x = -2 \\text{ or } x = 1", True, "several answers as x = … or x = …"),
    ("math500", "1,-2", "1, 2", False, "one answer wrong"),
    ("math500", "1,-2", "1", False, "one answer missing"),
    ("math500", "1,-2", "(1, -2)", True, "several answers written as a tuple in order"),
    ("math500", "x \\in [-2,7]", "[-2, 7]", True, "interval without `x \\in`"),
    ("math500", "x \\in [-2,7]", "(-2, 7]", False, "open end where the reference is closed"),
    ("math500", "x \\in [-2,7]", "-2 \\le x \\le 7", True, "the interval as an inequality"),
    ("math500", "x \\in [-2,7]", "-2 < x \\le 7", False, "the inequality with an open end"),
    ("math500", "(2,\\infty)", "x > 2", True, "one-sided inequality"),
    ("math500", "(2,\\infty)", "x \\ge 2", False, "closed where the reference is open"),
    ("math500", "(-\\infty, 0]", "x \\leq 0", True, "one-sided inequality, closed"),
    ("math500", "(3,4]", "(3, 4]", True, "half-open interval spacing"),
    ("math500", "(3,4]", "[3,4]", False, "closed where the reference is open"),
    (
        "math500",
        "(-\\infty, 2) \\cup (3, \\infty)",
        "(3,\\infty)\\cup(-\\infty,2)",
        True,
        "union reordered",
    ),
    (
        "math500",
        "(-\\infty, 2) \\cup (3, \\infty)",
        "(-\\infty,2] \\cup (3,\\infty)",
        False,
        "closed end",
    ),
    (
        "math500",
        "\\{1\\pm\\sqrt{5},-2\\}",
        "-2, 1+\\sqrt{5}, 1-\\sqrt{5}",
        True,
        "set with \\pm as several answers",
    ),
    ("math500", "\\{1\\pm\\sqrt{5},-2\\}", "\\{1+\\sqrt{5},-2\\}", False, "one element missing"),
    ("math500", "3, 5, 7", "7, 5, 3", True, "several answers reversed"),
    ("math500", "3, 5, 7", "3, 5", False, "one answer missing"),
    ("math500", "(1,-16,-4,43)", "(1, -16, -4, 43)", True, "4-tuple spacing"),
    ("math500", "(1,-16,-4,43)", "(1, -16, 43, -4)", False, "4-tuple order"),
    (
        "math500",
        "\\left(\\frac{3}{5},\\frac{8}{3}\\right]",
        "(0.6, \\frac83]",
        True,
        "interval with decimal end",
    ),
    (
        "math500",
        "\\left(\\frac{3}{5},\\frac{8}{3}\\right]",
        "[\\frac{3}{5},\\frac{8}{3}]",
        False,
        "closed where open",
    ),
    ("math500", "10,\\!080", "10080", True, "thousands with \\!"),
    ("math500", "\\$32,\\!348", "32348", True, "dollars and thousands"),
    ("math500", "\\$32,\\!348", "32,348.5", False, "not the same amount"),
    (
        "math500",
        "\\begin{pmatrix} -2 \\\\ -14 \\\\ -7 \\end{pmatrix}",
        "\\begin{pmatrix}-2\\\\-14\\\\-7\\end{pmatrix}",
        True,
        "vector spacing",
    ),
    (
        "math500",
        "\\begin{pmatrix} -2 \\\\ -14 \\\\ -7 \\end{pmatrix}",
        "\\begin{pmatrix} -14 \\\\ -2 \\\\ -7 \\end{pmatrix}",
        False,
        "vector entries swapped",
    ),
    ("math500", "\\$18.90", "18.90", True, "dollar sign dropped"),
    ("math500", "\\$18.90", "18.9", True, "trailing zero"),
    ("math500", "\\$18.90", "\\$19", False, "rounded"),
    ("math500", "6\\sqrt{2}", "\\sqrt{72}", True, "surd unsimplified"),
    ("math500", "6\\sqrt{2}", "8.4853", False, "decimal of a surd, 4 places"),
    ("math500", "\\text{(C)}", "C", True, "choice letter"),
    ("math500", "\\text{(C)}", "(C)", True, "choice letter in parentheses"),
    ("math500", "\\text{(C)}", "\\text{(D)}", False, "another choice"),
    ("amc23", "27.0", "27", True, "AMC float reference"),
    ("amc23", "27.0", "27.5", False, "near miss"),
    ("amc23", "3159.0", "3,159", True, "thousands comma"),
    ("aime24", "025", "25", True, "AIME leading zero"),
    ("aime24", "025", "250", False, "not the same integer"),
    ("aime25", "70", "\\boxed{70}", True, "answer still boxed"),
]

DEFECTS: list[tuple[str, str, bool, str]] = [
    # list-valued answers stored as Python list text, before and after the import fix
    ("['$\\\\frac{1}{2 n+2}$']", "\\frac{1}{2 n+2}", True, "one-element list text vs its element"),
    ("\\frac{1}{2 n+2}", "\\frac{1}{2n+2}", True, "spacing inside a fraction"),
    ("\\frac{1}{2 n+2}", "\\frac{1}{2n+1}", False, "different denominator"),
    ("['1', '2']", "2, 1", True, "list text vs several answers reordered"),
    ("['1', '2']", "1, 3", False, "list text vs a wrong list"),
    ("1, 2", "2, 1", True, "several answers: order free"),
    ("-1, 3", "3,-1", True, "several answers: order and spacing free"),
    ("-1, 3", "-1", False, "several answers: one missing"),
    ("-1, 3", "-1, 3, 5", False, "several answers: one extra"),
    ("['(1, 2)', '(3, 4)']", "(3,4), (1,2)", True, "several points, reordered"),
    ("(1, 2), (3, 4)", "(2, 1), (3, 4)", False, "a point's coordinates swapped"),
    ("x=2, y=3", "y = 3, x = 2", True, "named values reordered"),
    ("x=2, y=3", "x=3, y=2", False, "named values swapped"),
    # tuples and intervals
    ("(2, -1)", "(2,-1)", True, "tuple spacing"),
    ("(2, -1)", "(-1, 2)", False, "tuple order"),
    ("(0, 1]", "(0,1]", True, "half-open interval"),
    ("(0, 1]", "[0, 1]", False, "interval ends"),
    ("(0, 1]", "(0, 1)", False, "interval ends"),
    # percent, units, text
    ("8 \\%", "8\\%", True, "`8 \\%` spacing"),
    ("8 \\%", "8", True, "percent sign dropped"),
    ("8 \\%", "9\\%", False, "another percentage"),
    ("6m", "6m", True, "identical"),
    ("6m", "6 m", True, "unit spacing"),
    ("6\\text{ m}", "6m", True, "unit in \\text vs bare"),
    ("6\\text{ m}", "6", True, "unit dropped"),
    ("6\\text{ m}", "7\\text{ m}", False, "another length"),
    ("100\\text{ square units}", "100", True, "unit phrase dropped"),
    ("\\text{4:30 p.m.}", "4:30 p.m.", True, "time in \\text"),
    ("\\text{4:30 p.m.}", "4:30 a.m.", False, "morning, not afternoon"),
    # left-hand side names
    ("m_{\\max }=n^{2}-n-1", "n^{2}-n-1", True, "name on the reference only"),
    ("m_{\\max }=n^{2}-n-1", "m_{\\max} = n^2 - n - 1", True, "same name, other spacing"),
    ("m_{\\max }=n^{2}-n-1", "n^{2}-n+1", False, "wrong right-hand side"),
    ("n^{2}-n-1", "m_{\\max }=n^{2}-n-1", True, "name on the answer only"),
    ("y = 2x + 3", "y=3+2x", True, "line equation reordered"),
    ("y = 2x + 3", "x = 2y + 3", False, "another line"),
    ("f(x) = x^2 + 1", "x^2+1", True, "function name dropped"),
    # tiny and large numbers: relative tolerance, exact integers
    ("5.158e-07", "0", False, "absolute 1e-6 tolerance made 0 correct"),
    ("5.158e-07", "5.158\\times 10^{-7}", True, "scientific notation"),
    ("5.158e-07", "0.0000005158", True, "plain decimal"),
    ("5.158e-07", "5.2e-07", False, "two significant digits"),
    ("0.000001", "0.0000011", False, "10% off a tiny reference"),
    ("123456789", "123456788", False, "large integers are exact"),
    ("123456789", "123,456,789", True, "thousands commas"),
    ("1000000", "10^6", True, "power of ten"),
    ("0", "0.0", True, "zero as decimal"),
    ("0", "1e-12", False, "integer zero is exact"),
    ("\\frac{1}{3}", "0.3333333", True, "decimal within 1e-6"),
    ("\\frac{1}{3}", "0.33", False, "decimal far off"),
    ("3.14159265", "\\pi", True, "pi is within 1e-6 relative of a 9-digit decimal reference"),
    ("3.14", "\\pi", False, "pi is 5e-4 relative off a 3-digit decimal reference"),
    ("2.5", "\\frac{5}{2}", True, "decimal vs fraction"),
    # shapes that must not be confused
    ("[1, 2]", "1, 2", False, "two numbers are no answer to the closed interval [1, 2]"),
    ("(1, 2)", "2, 1", False, "the pair (1, 2) written bare, out of order"),
    ("(1, 2)", "1, 2", True, "the pair (1, 2) written bare, in order"),
    ("1, 2", "(1, 2)", True, "an answer list given back in parentheses"),
    ("1, 2", "(2, 1)", True, "an answer list given back in parentheses, any order"),
    ("1, 2", "[1, 2]", False, "two answers are not the interval [1, 2]"),
    ("\\{1, 2\\}", "[1, 2]", False, "a set is not a closed interval"),
    ("[1, 2]", "\\{1, 2\\}", False, "a closed interval is not a set"),
    ("(1, 2)", "(1, 2), (3, 4)", False, "one point vs two points"),
    ("1,000", "1000", True, "thousands comma, not two answers"),
    ("2 \\pm \\sqrt{3}", "2+\\sqrt{3}, 2-\\sqrt{3}", True, "\\pm as two answers"),
    ("2 \\pm \\sqrt{3}", "2+\\sqrt{3}", False, "\\pm: one of two answers"),
    ("abc", "cba", True, "a product of variables reordered"),
    ("\\text{Monday}", "Dynamo", False, "a word is not its anagram"),
    ("\\text{(A)}", "(B)", False, "another choice"),
    # words and empty answers
    ("\\text{Monday}", "Monday", True, "day name"),
    ("\\text{Monday}", "Tuesday", False, "another day"),
    ("5", "", False, "empty answer"),
]


def defect_pairs() -> list[dict]:
    return [
        {"reference": r, "answer": a, "equal": e, "source": "defects", "why": w}
        for r, a, e, w in DEFECTS
    ]


def rewrite_pairs() -> list[dict]:
    return [
        {"reference": r, "answer": a, "equal": e, "source": src, "why": w}
        for src, r, a, e, w in REWRITES
        if e is not None
    ]


def main(argv: list[str]) -> int:
    data = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared" / "data"
    rows = (
        qwen_pairs(data)
        + processbench_pairs(data)
        + gsm8k_pairs(data)
        + rewrite_pairs()
        + defect_pairs()
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    by_source: dict[str, int] = {}
    for row in rows:
        by_source[row["source"]] = by_source.get(row["source"], 0) + 1
    print(f"{len(rows)} pairs -> {OUT.relative_to(ROOT)}: {by_source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
