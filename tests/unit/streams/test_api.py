"""The web API's own logic that needs no broker."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from streams.api import UNITS_STREAM_SECONDS, Api

CALLER: Any = None  # who asks does not change the units snapshot


def test_open_screens_share_one_units_snapshot_per_interval() -> None:
    api = Api(cast(Any, None), cast(Any, None))
    computed: list[dict[str, str]] = []

    async def units_snapshot(query: dict[str, str], caller: Any) -> dict[str, Any]:
        computed.append(query)
        await asyncio.sleep(0.01)
        return {"units": [], "period": query.get("period", "year")}

    api.units_snapshot = units_snapshot  # type: ignore[method-assign]

    async def screens() -> None:
        year = {"period": "year"}
        first = await asyncio.gather(*(api.shared_units_snapshot(year, CALLER) for _ in range(20)))
        assert len(computed) == 1 and all(answer is first[0] for answer in first)
        await api.shared_units_snapshot(
            {"period": "30d"}, CALLER
        )  # another question, its own answer
        assert len(computed) == 2
        await asyncio.sleep(UNITS_STREAM_SECONDS)
        await api.shared_units_snapshot(year, CALLER)  # the interval passed: computed again
        assert computed == [year, {"period": "30d"}, year]

    asyncio.run(screens())


def test_a_screen_that_leaves_does_not_cancel_the_others() -> None:
    api = Api(cast(Any, None), cast(Any, None))

    async def units_snapshot(query: dict[str, str], caller: Any) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"units": ["u"]}

    api.units_snapshot = units_snapshot  # type: ignore[method-assign]

    async def screens() -> None:
        leaving = asyncio.ensure_future(api.shared_units_snapshot({}, CALLER))
        staying = asyncio.ensure_future(api.shared_units_snapshot({}, CALLER))
        await asyncio.sleep(0.01)
        leaving.cancel()
        assert await staying == {"units": ["u"]}

    asyncio.run(screens())
