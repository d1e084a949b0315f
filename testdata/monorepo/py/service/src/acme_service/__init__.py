"""Order totals for the HTTP layer."""

from acme_models import Order


def total(orders: list[Order]) -> int:
    return sum(order.total_cents for order in orders)
