"""The cart kept in the visitor's session: variant ids and quantities, nothing else.

Prices and stock are always read from the database when the cart is shown or ordered, so a
cart never holds a stale price.
"""
from __future__ import annotations

from collections.abc import Iterator

SESSION_KEY = "cart"
# The promo code the visitor applied (checked again at checkout), and the stored cart's id.
PROMO_SESSION_KEY = "cart_promo_code"
STORED_SESSION_KEY = "cart_stored_id"


class Cart:
    def __init__(self, session):
        self.session = session
        stored = session.get(SESSION_KEY)
        # Session data is JSON: keys are strings; drop anything that is not id -> quantity.
        self._quantities: dict[int, int] = {}
        if isinstance(stored, dict):
            for key, value in stored.items():
                if str(key).isdigit() and isinstance(value, int) and value > 0:
                    self._quantities[int(key)] = value

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self._quantities.items())

    def __len__(self) -> int:
        """How many items, counting each unit (2 mugs and 1 shirt = 3)."""
        return sum(self._quantities.values())

    def __bool__(self) -> bool:
        return bool(self._quantities)

    def __contains__(self, variant_id: int) -> bool:
        return variant_id in self._quantities

    def quantity_of(self, variant_id: int) -> int:
        return self._quantities.get(variant_id, 0)

    def quantities(self) -> dict[int, int]:
        return dict(self._quantities)

    def set(self, variant_id: int, quantity: int) -> None:
        if quantity <= 0:
            raise ValueError("quantity must be positive; use remove()")
        self._quantities[variant_id] = quantity
        self._save()

    def remove(self, variant_id: int) -> None:
        if self._quantities.pop(variant_id, None) is not None:
            self._save()

    def clear(self) -> None:
        """Empty it, promo code included; the stored cart stays linked."""
        self._quantities = {}
        self.session.pop(SESSION_KEY, None)
        self.session.pop(PROMO_SESSION_KEY, None)
        self.session.modified = True

    def replace(self, quantities: dict[int, int]) -> None:
        self._quantities = {int(k): int(v) for k, v in quantities.items() if int(v) > 0}
        self._save()

    @property
    def promo_code(self) -> str:
        value = self.session.get(PROMO_SESSION_KEY)
        return value if isinstance(value, str) else ""

    @promo_code.setter
    def promo_code(self, code: str) -> None:
        if code:
            self.session[PROMO_SESSION_KEY] = code
        else:
            self.session.pop(PROMO_SESSION_KEY, None)
        self.session.modified = True

    @property
    def stored_id(self) -> int | None:
        value = self.session.get(STORED_SESSION_KEY)
        return value if isinstance(value, int) else None

    @stored_id.setter
    def stored_id(self, value: int | None) -> None:
        if value is None:
            self.session.pop(STORED_SESSION_KEY, None)
        else:
            self.session[STORED_SESSION_KEY] = value
        self.session.modified = True

    def _save(self) -> None:
        self.session[SESSION_KEY] = {str(key): value for key, value in self._quantities.items()}
        self.session.modified = True
