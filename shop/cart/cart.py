"""The cart kept in the visitor's session: variant ids and quantities, nothing else.

Prices and stock are always read from the database when the cart is shown or ordered, so a
cart never holds a stale price.
"""
from __future__ import annotations

from collections.abc import Iterator

SESSION_KEY = "cart"


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
        self._quantities = {}
        self.session.pop(SESSION_KEY, None)
        self.session.modified = True

    def _save(self) -> None:
        self.session[SESSION_KEY] = {str(key): value for key, value in self._quantities.items()}
        self.session.modified = True
