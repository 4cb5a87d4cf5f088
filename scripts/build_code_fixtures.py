"""Write acotd_tui/data/code/*.jsonl: small code problems in the shapes of HumanEval, MBPP,
APPS and LiveCodeBench (written for acotd-tui; not copied from those datasets)."""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "acotd_tui" / "data" / "code"

HUMANEVAL = [
    (
        "running_max",
        'def running_max(xs: list[int]) -> list[int]:\n    """Return the running maximum of xs.\n    >>> running_max([1, 3, 2, 5])\n    [1, 3, 3, 5]\n    """\n',
        "    out, best = [], None\n    for x in xs:\n        best = x if best is None else max(best, x)\n        out.append(best)\n    return out\n",
        "def check(candidate):\n    assert candidate([1, 3, 2, 5]) == [1, 3, 3, 5]\n    assert candidate([]) == []\n    assert candidate([-2, -5, -1]) == [-2, -2, -1]\n",
    ),
    (
        "is_palindrome",
        'def is_palindrome(s: str) -> bool:\n    """True if s reads the same backwards, ignoring case and non-alphanumerics.\n    >>> is_palindrome("A man, a plan, a canal: Panama")\n    True\n    """\n',
        "    t = [c.lower() for c in s if c.isalnum()]\n    return t == t[::-1]\n",
        "def check(candidate):\n    assert candidate('A man, a plan, a canal: Panama') is True\n    assert candidate('race a car') is False\n    assert candidate('') is True\n",
    ),
    (
        "count_vowels",
        'def count_vowels(s: str) -> int:\n    """Number of vowels (a, e, i, o, u; either case) in s.\n    >>> count_vowels("Hello World")\n    3\n    """\n',
        "    return sum(1 for c in s.lower() if c in 'aeiou')\n",
        "def check(candidate):\n    assert candidate('Hello World') == 3\n    assert candidate('xyz') == 0\n    assert candidate('AEIOUaeiou') == 10\n",
    ),
    (
        "fizzbuzz",
        "def fizzbuzz(n: int) -> list[str]:\n    \"\"\"The FizzBuzz sequence from 1 to n.\n    >>> fizzbuzz(5)\n    ['1', '2', 'Fizz', '4', 'Buzz']\n    \"\"\"\n",
        "    return ['FizzBuzz' if i % 15 == 0 else 'Fizz' if i % 3 == 0 else 'Buzz' if i % 5 == 0 else str(i) for i in range(1, n + 1)]\n",
        "def check(candidate):\n    assert candidate(5) == ['1', '2', 'Fizz', '4', 'Buzz']\n    assert candidate(15)[-1] == 'FizzBuzz'\n    assert candidate(0) == []\n",
    ),
    (
        "second_largest",
        'def second_largest(xs: list[int]) -> int | None:\n    """The second largest distinct value, or None if there is none.\n    >>> second_largest([4, 1, 4, 3])\n    3\n    """\n',
        "    distinct = sorted(set(xs))\n    return distinct[-2] if len(distinct) > 1 else None\n",
        "def check(candidate):\n    assert candidate([4, 1, 4, 3]) == 3\n    assert candidate([7, 7]) is None\n    assert candidate([-1, -9]) == -9\n",
    ),
]

MBPP = [
    (
        "Write a function to find the sum of the digits of a non-negative integer.",
        "def sum_digits(n):\n    return sum(int(d) for d in str(n))\n",
        [
            "assert sum_digits(1234) == 10",
            "assert sum_digits(0) == 0",
            "assert sum_digits(99999) == 45",
        ],
    ),
    (
        "Write a function to reverse the order of the words in a sentence.",
        "def reverse_words(s):\n    return ' '.join(reversed(s.split()))\n",
        [
            "assert reverse_words('hello big world') == 'world big hello'",
            "assert reverse_words('one') == 'one'",
            "assert reverse_words('') == ''",
        ],
    ),
    (
        "Write a function to check whether a number is prime.",
        "def is_prime(n):\n    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n        if n % i == 0:\n            return False\n        i += 1\n    return True\n",
        [
            "assert is_prime(2) == True",
            "assert is_prime(15) == False",
            "assert is_prime(97) == True",
            "assert is_prime(1) == False",
        ],
    ),
    (
        "Write a function to find the greatest common divisor of two positive integers.",
        "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n",
        ["assert gcd(12, 18) == 6", "assert gcd(7, 5) == 1", "assert gcd(100, 25) == 25"],
    ),
    (
        "Write a function to flatten a list of lists (nested to any depth) into a flat list.",
        "def flatten(xs):\n    out = []\n    for x in xs:\n        if isinstance(x, list):\n            out.extend(flatten(x))\n        else:\n            out.append(x)\n    return out\n",
        [
            "assert flatten([1, [2, [3, 4]], 5]) == [1, 2, 3, 4, 5]",
            "assert flatten([]) == []",
            "assert flatten([[[]]]) == []",
        ],
    ),
]

APPS = [
    (
        "You are given n integers. Print their sum.\n\nInput: the first line holds n (1 <= n <= 1000); the second line holds n integers.\nOutput: one integer, the sum.",
        "n = int(input())\nprint(sum(map(int, input().split())))\n",
        [("3\n1 2 3\n", "6\n"), ("1\n-5\n", "-5\n"), ("4\n10 20 30 40\n", "100\n")],
    ),
    (
        "Print the given string reversed.\n\nInput: one line with a string s (1 <= |s| <= 100).\nOutput: s reversed.",
        "print(input()[::-1])\n",
        [("abc\n", "cba\n"), ("racecar\n", "racecar\n"), ("ab\n", "ba\n")],
    ),
    (
        "Given the number n, print the n-th Fibonacci number (F(0) = 0, F(1) = 1).\n\nInput: n (0 <= n <= 80).\nOutput: F(n).",
        "n = int(input())\na, b = 0, 1\nfor _ in range(n):\n    a, b = b, a + b\nprint(a)\n",
        [("0\n", "0\n"), ("10\n", "55\n"), ("80\n", "23416728348467685\n")],
    ),
    (
        "Count the distinct words of a line (words are separated by spaces; case matters).\n\nInput: one line of text.\nOutput: the number of distinct words.",
        "print(len(set(input().split())))\n",
        [("a b a c\n", "3\n"), ("x\n", "1\n"), ("The the THE\n", "3\n")],
    ),
    (
        "Given two integers a and b, print a*b and a//b on separate lines (b != 0, integer division rounds down).\n\nInput: a and b on one line.\nOutput: two lines.",
        "a, b = map(int, input().split())\nprint(a * b)\nprint(a // b)\n",
        [("7 2\n", "14\n3\n"), ("-7 2\n", "-14\n-4\n"), ("9 3\n", "27\n3\n")],
    ),
]

LCB = [
    (
        "Max Profit Once",
        "You are given an array prices where prices[i] is the price of a stock on day i. Choose one day to buy and a later day to sell. Return the maximum profit, or 0 if no profit is possible.",
        "class Solution:\n    def maxProfit(self, prices: list[int]) -> int:\n        ",
        "maxProfit",
        "class Solution:\n    def maxProfit(self, prices):\n        best, low = 0, float('inf')\n        for p in prices:\n            low = min(low, p)\n            best = max(best, p - low)\n        return best\n",
        [("[7, 1, 5, 3, 6, 4]", "5"), ("[7, 6, 4, 3, 1]", "0"), ("[2, 4]", "2")],
    ),
    (
        "Count Pairs With Sum",
        "Given an integer array nums and an integer k, return the number of pairs (i, j) with i < j and nums[i] + nums[j] == k.",
        "class Solution:\n    def countPairs(self, nums: list[int], k: int) -> int:\n        ",
        "countPairs",
        "class Solution:\n    def countPairs(self, nums, k):\n        seen, count = {}, 0\n        for x in nums:\n            count += seen.get(k - x, 0)\n            seen[x] = seen.get(x, 0) + 1\n        return count\n",
        [("[1, 2, 3, 4, 3]\n6", "2"), ("[1, 1, 1]\n2", "3"), ("[5]\n5", "0")],
    ),
    (
        "Balanced Brackets",
        "Read a string of brackets ()[]{} from standard input and print YES if it is balanced, NO otherwise.",
        "",
        None,
        "s = input().strip()\npairs = {')': '(', ']': '[', '}': '{'}\nstack = []\nok = True\nfor c in s:\n    if c in '([{':\n        stack.append(c)\n    elif not stack or stack.pop() != pairs[c]:\n        ok = False\n        break\nprint('YES' if ok and not stack else 'NO')\n",
        [("([]{})\n", "YES\n"), ("(]\n", "NO\n"), ("((\n", "NO\n")],
    ),
    (
        "Minimum Coins",
        "Given coin values and an amount on standard input (first line: the coins; second line: the amount), print the fewest coins that make the amount, or -1 if impossible.",
        "",
        None,
        "coins = list(map(int, input().split()))\namount = int(input())\nINF = amount + 1\nbest = [0] + [INF] * amount\nfor a in range(1, amount + 1):\n    for c in coins:\n        if c <= a and best[a - c] + 1 < best[a]:\n            best[a] = best[a - c] + 1\nprint(best[amount] if best[amount] <= amount else -1)\n",
        [("1 2 5\n11\n", "3\n"), ("2\n3\n", "-1\n"), ("1\n0\n", "0\n")],
    ),
    (
        "Longest Run",
        "Given a string s, return the length of its longest run of one repeated character.",
        "class Solution:\n    def longestRun(self, s: str) -> int:\n        ",
        "longestRun",
        "class Solution:\n    def longestRun(self, s):\n        best = run = 0\n        prev = None\n        for c in s:\n            run = run + 1 if c == prev else 1\n            prev = c\n            best = max(best, run)\n        return best\n",
        [('"aaabbc"', "3"), ('""', "0"), ('"abc"', "1")],
    ),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "task_id": f"AcotdEval/{i}",
            "prompt": prompt,
            "canonical_solution": body,
            "test": test,
            "entry_point": name,
        }
        for i, (name, prompt, body, test) in enumerate(HUMANEVAL)
    ]
    (OUT / "humaneval_shaped.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rows = [
        {"task_id": 900 + i, "text": text, "code": code, "test_list": tests, "test_setup_code": ""}
        for i, (text, code, tests) in enumerate(MBPP)
    ]
    (OUT / "mbpp_shaped.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rows = [
        {
            "problem_id": 5000 + i,
            "question": q,
            "solutions": json.dumps([sol]),
            "input_output": json.dumps(
                {"inputs": [c[0] for c in cases], "outputs": [c[1] for c in cases]}
            ),
            "difficulty": "introductory",
        }
        for i, (q, sol, cases) in enumerate(APPS)
    ]
    (OUT / "apps_shaped.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rows = []
    for i, (title, content, starter, func, solution, cases) in enumerate(LCB):
        kind = "functional" if func else "stdin"
        rows.append(
            {
                "question_title": title,
                "question_content": content,
                "platform": "leetcode" if func else "atcoder",
                "question_id": f"acotd-{i}",
                "contest_date": "2025-01-01T00:00:00",
                "starter_code": starter,
                "difficulty": "easy",
                "public_test_cases": json.dumps(
                    [{"input": a, "output": b, "testtype": kind} for a, b in cases]
                ),
                "metadata": json.dumps({"func_name": func} if func else {}),
                "reference_solution": solution,
            }
        )
    (OUT / "livecodebench_shaped.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
