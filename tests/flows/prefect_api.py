"""Reading the test Prefect server's REST answers."""

from __future__ import annotations

import httpx


def answered(response: httpx.Response):
    """The API's answer, or a failure that shows what the server said (a create_flow_run once came
    back without an id, and a bare KeyError hid why)."""
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    return response.json()
