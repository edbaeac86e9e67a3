"""The definition most unit tests start from (the checkout SLO of the contract's examples)."""

from __future__ import annotations

from typing import Any


def checkout_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "slo_id": "checkout-availability",
        "slo_name": "Checkout availability",
        "service_name": "checkout",
        "slo_type": "AVAILABILITY",
        "target_percentage": 99.9,
        "time_period": "ROLLING_30D",
    }
    fields.update(overrides)
    return fields
