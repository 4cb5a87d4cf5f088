"""The terminal rendering of LaTeX-ish text: readable math, money left alone."""

from __future__ import annotations

import pytest

from acotd_tui.render import latexish


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("$\\frac{1}{2} \\times 4 = 2$", "1/2 × 4 = 2"),
        ("So $x^2 \\le 9$ and $x \\ge -3$.", "So x² ≤ 9 and x ≥ -3."),
        ("The answer is \\boxed{480}.", "The answer is ⟦480⟧."),
        # Escaped dollars are money, also in text that has LaTeX elsewhere.
        ("Renting costs \\$25, so $10 \\times 1.5 = 15$.", "Renting costs $25, so 10 × 1.5 = 15."),
        ("\\$480", "$480"),
        # Plain text (GSM8K): every "$" is money.
        (
            "She pays $25 per session and $3 per student.",
            "She pays $25 per session and $3 per student.",
        ),
        # LaTeX text with unescaped prices: prose between two dollars is not a math span.
        (
            "It costs $25 per session plus $1.50 per student, so 10 \\times 1.50 = 15.",
            "It costs $25 per session plus $1.50 per student, so 10 × 1.50 = 15.",
        ),
        ("\\[ a_1 + a_2 \\]", " a₁ + a₂ "),
    ],
)
def test_latexish(raw, shown):
    assert latexish(raw) == shown
