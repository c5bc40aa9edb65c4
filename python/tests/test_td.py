"""TD builders, validation, parsing and payload checks from Python."""

from __future__ import annotations

import math

import pytest

import lmos


def weather_td() -> dict:
    return (
        lmos.agent("Weather")
        .description("Answers weather questions.")
        .vendor("ACME", "https://acme.example")
        .property("unit", {"type": "string", "enum": ["C", "F"]}, observable=True)
        .action("ask", input={"type": "string"}, output={"type": "string"})
        .event("alert", data={"type": "string"})
        .build()
    )


def test_builder_makes_an_lmos_agent_description() -> None:
    td = weather_td()
    assert td["title"] == "Weather"
    assert "lmos:Agent" in str(td["@type"])
    assert set(td["properties"]) == {"unit"}
    assert td["properties"]["unit"]["observable"] is True
    assert td["actions"]["ask"]["input"] == {"type": "string"}
    assert set(td["events"]) == {"alert"}


def test_builder_can_only_build_once() -> None:
    builder = lmos.tool("Geocoder")
    builder.build()
    with pytest.raises(lmos.LmosError, match="already used"):
        builder.build()


def test_validate_reports_every_problem_of_a_bad_td() -> None:
    report = lmos.validate({"title": 42})
    assert report["valid"] is False
    assert report["problems"], report


def test_parse_td_raises_with_the_report() -> None:
    with pytest.raises(lmos.InvalidThingDescription) as caught:
        lmos.parse_td('{"title": "no context"}')
    assert caught.value.report["valid"] is False
    assert isinstance(caught.value, lmos.LmosError)


def test_parse_td_accepts_a_served_td_as_str_and_bytes(tmp_path) -> None:
    td = {
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "title": "Lamp",
        "securityDefinitions": {"nosec": {"scheme": "nosec"}},
        "security": "nosec",
        "properties": {
            "on": {"type": "boolean", "forms": [{"href": "http://127.0.0.1:1/lamp/on"}]}
        },
    }
    import json

    assert lmos.parse_td(json.dumps(td))["title"] == "Lamp"
    assert lmos.parse_td(json.dumps(td).encode())["properties"]["on"]["type"] == "boolean"


def test_check_payload_lists_violations() -> None:
    schema = {"type": "object", "properties": {"days": {"type": "integer", "maximum": 7}}}
    lmos.check_payload(schema, {"days": 3})
    with pytest.raises(lmos.InvalidPayload) as caught:
        lmos.check_payload(schema, {"days": 9})
    assert caught.value.violations[0]["path"] == "/days"
    assert caught.value.code == "invalid_payload"


@pytest.mark.parametrize(
    "value", [object(), {1: "int key"}, math.nan, math.inf, {"x": {1, 2}}, 2**70, b"bytes"]
)
def test_values_json_cannot_carry_raise_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        lmos.check_payload({}, value)
