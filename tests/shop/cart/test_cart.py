"""The session cart container."""
import pytest

from shop.cart.cart import SESSION_KEY, Cart


def test_set_remove_len_and_clear(cart, session):
    cart.set(1, 2)
    cart.set(5, 1)
    assert len(cart) == 3 and bool(cart)
    assert Cart(session).quantities() == {1: 2, 5: 1}  # survives a new request
    assert session[SESSION_KEY] == {"1": 2, "5": 1}  # JSON-safe keys
    cart.remove(1)
    assert cart.quantities() == {5: 1}
    cart.clear()
    assert not Cart(session) and SESSION_KEY not in session


def test_set_refuses_non_positive(cart):
    with pytest.raises(ValueError):
        cart.set(1, 0)


def test_tampered_session_data_is_ignored(session):
    session[SESSION_KEY] = {"1": 2, "x": 3, "2": -1, "3": "many"}
    assert Cart(session).quantities() == {1: 2}
    session[SESSION_KEY] = "garbage"
    assert Cart(session).quantities() == {}
