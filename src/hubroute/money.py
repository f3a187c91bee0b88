"""Money as the store keeps it: an integer count of nano-dollars (1e-9 USD), exact in sums.

Prices come in dollars per million tokens (or per image, second, character), so one token of a
$0.05/M model costs 50 nano-dollars: integers keep every request's cost and every balance exact where
float sums would drift. The API speaks dollars (`usd`), converted here and nowhere else.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

NANO = 10**9


def nano(usd: float | int | str | Decimal) -> int:
    """Dollars (as given: `1.5`, `"0.0001"`) in nano-dollars, rounded half to even."""
    try:
        value = Decimal(str(usd)) if not isinstance(usd, Decimal) else usd
        if not value.is_finite():
            raise ValueError(f"{usd!r} is not an amount of dollars")
        return int((value * NANO).to_integral_value(ROUND_HALF_EVEN))
    except InvalidOperation:
        raise ValueError(f"{usd!r} is not an amount of dollars") from None


def usd(amount: int) -> float:
    """Nano-dollars in dollars, for answers (a float holds any balance to the nano-dollar below $9M)."""
    return amount / NANO
