"""``uriVariables`` from Python: values given per call fill the form's URI template (checked
against the affordance's schemas, by the client and again by the server), and a Python handler
reads them from its context."""

from __future__ import annotations

from typing import Any

import pytest

import lmos


def weather_td() -> dict[str, Any]:
    td = (
        lmos.tool("Weather")
        .action("forecast", output={"type": "object"})
        .property("temperature", {"type": "object"}, read_only=True)
        .build()
    )
    td["actions"]["forecast"]["uriVariables"] = {
        "city": {"type": "string"},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    }
    td["properties"]["temperature"]["uriVariables"] = {
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
    }
    return td


async def test_uri_variables_reach_the_handler_and_bad_ones_are_refused() -> None:
    servient = lmos.Servient(http_port=0)
    exposed = servient.expose(weather_td())

    async def forecast(_input: Any, context: lmos.InteractionContext) -> Any:
        return {"variables": context.uri_variables}

    async def temperature(context: lmos.InteractionContext) -> Any:
        return {"variables": context.uri_variables}

    exposed.on_action("forecast", forecast)
    exposed.on_property_read("temperature", temperature)
    await servient.start()
    async with servient:
        thing = await lmos.consume(exposed.td_url or "")
        href = thing.td["actions"]["forecast"]["forms"][0]["href"]
        assert href.endswith("{?city,days}"), href
        result = await thing.invoke_action(
            "forecast", uri_variables={"city": "Köln am Rhein", "days": 3}
        )
        assert result == {"variables": {"city": "Köln am Rhein", "days": 3}}
        assert await thing.invoke_action("forecast") == {"variables": {}}
        read = await thing.read_property("temperature", uri_variables={"unit": "fahrenheit"})
        assert read == {"variables": {"unit": "fahrenheit"}}

        # Checked locally first: out of range, wrong type, undeclared.
        for bad in [{"days": 9}, {"days": "three"}, {"country": "DE"}]:
            with pytest.raises(lmos.InvalidInput):
                await thing.invoke_action("forecast", uri_variables=bad)
        with pytest.raises(TypeError):
            await thing.invoke_action("forecast", uri_variables=["days", 3])  # type: ignore[arg-type]

        # With local checks off, the server refuses them with a 400 naming the variable.
        unchecked = await lmos.consume(exposed.td_url or "", validate_inputs=False)
        with pytest.raises(lmos.RemoteError) as refused:
            await unchecked.invoke_action("forecast", uri_variables={"days": 9})
        assert refused.value.status == 400
        assert "days" in str(refused.value.problem)
        # The handler still serves good calls afterwards.
        assert await unchecked.invoke_action("forecast", uri_variables={"days": 2}) == {
            "variables": {"days": 2}
        }
