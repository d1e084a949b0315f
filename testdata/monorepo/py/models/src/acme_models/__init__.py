"""Shared data models of the Python services."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Order:
    id: int
    total_cents: int
