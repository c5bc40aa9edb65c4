"""Serving and consuming from Python, in one process over real loopback sockets."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import lmos

WAIT = 20  # seconds: an upper bound so that a broken feature fails instead of hanging


def counter_td() -> lmos.ThingBuilder:
    return (
        lmos.agent("Counter")
        .property("count", {"type": "integer", "minimum": 0}, observable=True)
        .property("label", {"type": "string"})
        .property("version", {"type": "string"}, read_only=True)
        .property("now", {"type": "integer"})
        .action(
            "add",
            input={
                "type": "object",
                "properties": {"by": {"type": "integer", "minimum": 1}},
                "required": ["by"],
            },
            output={"type": "integer"},
        )
        .action("count_to", input={"type": "integer"}, output={"type": "string"})
        .action(
            "slow",
            input={"type": "integer"},
            output={"type": "integer"},
            synchronous=False,
        )
        .action("trace", output={"type": "object"})
        .action("fail")
        .action("refuse")
        .action("bad_output", output={"type": "integer"})
        .action("not_json")
        .action("hang")
        .event("reset", data={"type": "object", "properties": {"by": {"type": "string"}}})
    )


class Counter:
    """The handlers of the counter thing, with hooks the tests look at."""

    def __init__(self, exposed: lmos.ExposedThing) -> None:
        self.exposed = exposed
        self.writes: list[Any] = []
        self.hang_started = asyncio.Event()
        self.hang_cancelled = asyncio.Event()
        self.slow_started = asyncio.Event()
        self.slow_cancelled = asyncio.Event()
        self.release_slow = asyncio.Event()
        exposed.set_property("count", 0)
        exposed.set_property("label", "start")
        exposed.set_property("version", "1.0")

        @exposed.property_read("now")
        async def now() -> int:
            return 42

        @exposed.property_write("label")
        async def label(value: str, ctx: lmos.InteractionContext) -> None:
            self.writes.append(value)

        @exposed.action("add")
        async def add(input: dict[str, Any]) -> int:
            count = exposed.property_value("count") + input["by"]
            exposed.set_property("count", count)
            return count

        @exposed.action("count_to")
        async def count_to(n: int):
            for i in range(1, n + 1):
                await asyncio.sleep(0)
                yield lmos.Progress(i) if i % 2 else i
            yield lmos.Output(f"counted to {n}")

        @exposed.action("slow")
        async def slow(n: int, ctx: lmos.InteractionContext):
            self.slow_started.set()
            yield {"step": 1, "action": ctx.action_id}
            try:
                await self.release_slow.wait()
            except asyncio.CancelledError:
                self.slow_cancelled.set()
                raise
            yield lmos.Output(n * 2)

        @exposed.action("trace")
        async def trace(_input: None, ctx: lmos.InteractionContext) -> dict[str, Any]:
            assert lmos.current_context() is ctx
            return {"traceparent": ctx.traceparent, "trace_id": ctx.trace_id}

        @exposed.action("fail")
        async def fail() -> None:
            raise RuntimeError("secret internal detail")

        @exposed.action("refuse")
        async def refuse() -> None:
            raise lmos.InvalidInput("try again tomorrow")

        @exposed.action("bad_output")
        async def bad_output() -> str:
            return "not an integer"

        @exposed.action("not_json")
        async def not_json() -> object:
            return object()

        @exposed.action("hang")
        async def hang() -> None:
            self.hang_started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.hang_cancelled.set()
                raise


async def served(**servient_options: Any) -> tuple[lmos.Servient, Counter]:
    servient = lmos.Servient(http_port=0, **servient_options)
    counter = Counter(servient.expose(counter_td()))
    await servient.start()
    return servient, counter


async def test_servient_binds_an_ephemeral_port_and_serves_the_td() -> None:
    async with lmos.Servient(http_port=0) as servient:
        exposed = servient.expose(counter_td())
        host, port = servient.http_address
        assert host == "127.0.0.1" and port > 0
        assert exposed.td_url == f"http://127.0.0.1:{port}/counter"
        assert servient.base_url == f"http://127.0.0.1:{port}/"
        thing = await lmos.consume(exposed.td_url)
        assert thing.title == "Counter"
        href = thing.td["actions"]["add"]["forms"][0]["href"]
        assert href.startswith(f"http://127.0.0.1:{port}/counter/")
        assert [t.slug for t in servient.things()] == ["counter"]
    assert servient.http_address is None


async def test_public_base_url_is_used_in_forms() -> None:
    async with lmos.Servient(http_port=0, public_base_url="https://agents.example/x") as servient:
        exposed = servient.expose(counter_td())
        assert exposed.td_url == "https://agents.example/x/counter"
        assert exposed.td["properties"]["count"]["forms"][0]["href"].startswith(
            "https://agents.example/x/counter/"
        )


async def test_bad_servient_configuration_raises() -> None:
    with pytest.raises(lmos.ConfigurationError):
        lmos.Servient(public_base_url="not a url")
    with pytest.raises(ValueError):
        lmos.Servient(host="localhost-ish")
    async with lmos.Servient(http_port=0) as servient:
        servient.expose(counter_td())
        with pytest.raises(lmos.ConfigurationError):
            servient.expose(counter_td())
        taken = servient.http_address[1]
        with pytest.raises(lmos.BindError):
            await lmos.Servient(http_port=taken).start()


async def test_properties_read_write_all_and_multiple() -> None:
    servient, counter = await served()
    async with servient:
        thing = await lmos.consume(counter.exposed.td_url)
        assert await thing.read_property("count") == 0
        assert await thing.read_property("now") == 42
        await thing.write_property("label", "hello")
        assert counter.writes == ["hello"]
        assert await thing.read_property("label") == "hello"
        everything = await thing.read_all_properties()
        assert everything == {"count": 0, "label": "hello", "version": "1.0", "now": 42}
        await thing.write_multiple_properties({"count": 5, "label": "five"})
        assert counter.exposed.property_value("count") == 5
        assert counter.writes == ["hello", "five"]


async def test_actions_single_output_and_streamed_progress() -> None:
    servient, counter = await served()
    async with servient:
        thing = await lmos.consume(counter.exposed.td_url)
        assert await thing.invoke_action("add", {"by": 2}) == 2
        assert await thing.invoke_action("add", {"by": 3}) == 5
        updates = [u async for u in thing.invoke_action_stream("count_to", 3)]
        assert updates == [
            lmos.Progress(1),
            lmos.Progress(2),
            lmos.Progress(3),
            lmos.Output("counted to 3"),
        ]
        # Without streaming, the progress is dropped and the output returned.
        assert await thing.invoke_action("count_to", 2) == "counted to 2"


async def test_async_action_query_output_and_updates() -> None:
    servient, counter = await served()
    async with servient:
        thing = await lmos.consume(counter.exposed.td_url, poll_interval=0.05)
        handle = await thing.start_action("slow", 21)
        assert handle.is_async and handle.action == "slow"
        assert handle.status_url.startswith(servient.base_url)
        await asyncio.wait_for(counter.slow_started.wait(), WAIT)
        status = await handle.query()
        assert status["status"] == "running"
        counter.release_slow.set()
        assert await asyncio.wait_for(handle.output(), WAIT) == 42
        assert (await handle.query())["status"] == "completed"

        # Updates of an asynchronous action: progress reported after the stream opened (the
        # core does not replay earlier progress), then the output.
        updates = [u async for u in thing.invoke_action_stream("slow", 5)]
        for update in updates[:-1]:
            assert isinstance(update, lmos.Progress) and update.value["step"] == 1
        assert updates[-1] == lmos.Output(10)


async def test_cancelling_an_async_action_cancels_the_python_handler() -> None:
    servient, counter = await served()
    async with servient:
        thing = await lmos.consume(counter.exposed.td_url)
        handle = await thing.start_action("slow", 1)
        await asyncio.wait_for(counter.slow_started.wait(), WAIT)
        await handle.cancel()
        await asyncio.wait_for(counter.slow_cancelled.wait(), WAIT)
        with pytest.raises(lmos.ActionCancelled):
            await handle.output()
        with pytest.raises(lmos.ActionFinished):
            await handle.cancel()


async def test_cancelling_the_calling_task_cancels_the_remote_python_handler() -> None:
    servient, counter = await served()
    async with servient:
        thing = await lmos.consume(counter.exposed.td_url)
        call = asyncio.create_task(thing.invoke_action("hang"))
        await asyncio.wait_for(counter.hang_started.wait(), WAIT)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # The dropped request drops the handler's future, which cancels its Python task.
        await asyncio.wait_for(counter.hang_cancelled.wait(), WAIT)
        assert await thing.invoke_action("add", {"by": 1}) == 1


async def test_observe_property_and_subscribe_event_over_sse() -> None:
    servient, counter = await served()
    async with servient:
        thing = await lmos.consume(counter.exposed.td_url, subprotocols=["sse"])
        # Once awaited, the observation is in place: nothing after this point is missed.
        async with await thing.observe_property("count") as values:
            await thing.invoke_action("add", {"by": 4})
            counter.exposed.set_property("count", 9)
            seen = []
            async for value in values:
                seen.append(value)
                if value == 9:
                    break
            assert seen == [4, 9]
        events = await thing.subscribe_event("reset")
        counter.exposed.emit_event("reset", {"by": "test"})
        assert await asyncio.wait_for(events.__anext__(), WAIT) == {"by": "test"}
        await events.aclose()
        with pytest.raises(StopAsyncIteration):
            await events.__anext__()


async def first(stream: lmos.Stream[Any]) -> Any:
    async for value in stream:
        return value
    return None


async def until_received(stream: lmos.Stream[Any], trigger: Any) -> Any:
    """Long-poll only sees what happens while a poll is waiting: trigger until one arrives."""
    reader = asyncio.create_task(first(stream))

    async def keep_triggering() -> None:
        while not reader.done():
            trigger()
            await asyncio.wait({reader}, timeout=0.05)

    await asyncio.wait_for(keep_triggering(), WAIT)
    return reader.result()


async def test_observe_property_and_subscribe_event_over_long_poll() -> None:
    servient, counter = await served()
    async with servient:
        thing = await lmos.consume(counter.exposed.td_url, subprotocols=["longpoll"])
        assert thing.td["properties"]["count"]["forms"]
        values = thing.observe_property("count")
        assert await until_received(values, lambda: counter.exposed.set_property("count", 3)) == 3
        events = thing.subscribe_event("reset")
        data = await until_received(
            events, lambda: counter.exposed.emit_event("reset", {"by": "lp"})
        )
        assert data == {"by": "lp"}
        await values.aclose()
        await events.aclose()


async def test_a_handler_that_raises_gives_a_clean_500_and_a_logged_traceback(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    servient, counter = await served()
    async with servient:
        thing = await lmos.consume(counter.exposed.td_url)
        with caplog.at_level(logging.ERROR, logger="lmos"):
            with pytest.raises(lmos.RemoteError) as caught:
                await thing.invoke_action("fail")
        assert caught.value.status == 500
        assert caught.value.code == "remote_error"
        assert "secret" not in str(caught.value)
        assert "secret" not in str(caught.value.problem)
        records = [r for r in caplog.records if r.name == "lmos"]
        assert len(records) == 1, "the handler's exception was not logged exactly once"
        assert records[0].exc_info is not None
        assert "secret internal detail" in caplog.text
        assert "RuntimeError" in caplog.text  # the traceback, not just the message
        # The server keeps serving.
        assert await thing.invoke_action("add", {"by": 1}) == 1
    out, err = capfd.readouterr()
    assert "secret" not in out + err  # logged through `logging` only, never printed


async def test_handler_results_json_cannot_carry_fail_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    servient, counter = await served()
    async with servient:
        thing = await lmos.consume(counter.exposed.td_url)
        with caplog.at_level(logging.ERROR, logger="lmos"):
            with pytest.raises(lmos.RemoteError) as caught:
                await thing.invoke_action("not_json")
        assert caught.value.status == 500
        assert "cannot be sent as JSON" in caplog.text


async def test_a_handler_can_refuse_its_input_with_a_message() -> None:
    servient, counter = await served()
    async with servient:
        thing = await lmos.consume(counter.exposed.td_url)
        with pytest.raises(lmos.RemoteError) as caught:
            await thing.invoke_action("refuse")
        assert caught.value.status == 400
        assert "try again tomorrow" in str(caught.value)


async def test_schema_violations_are_caught_before_sending_and_by_the_server() -> None:
    servient, counter = await served()
    async with servient:
        thing = await lmos.consume(counter.exposed.td_url)
        with pytest.raises(lmos.InvalidInput) as caught:
            await thing.invoke_action("add", {"by": 0})
        assert caught.value.violations[0]["path"] == "/by"
        assert isinstance(caught.value, lmos.InvalidPayload)
        with pytest.raises(lmos.InvalidInput):
            await thing.write_property("count", -1)

        unchecked = await lmos.consume(counter.exposed.td_url, validate_inputs=False)
        with pytest.raises(lmos.RemoteError) as remote:
            await unchecked.invoke_action("add", {"by": "two"})
        assert remote.value.status == 400
        assert remote.value.problem is not None

        with pytest.raises(lmos.InvalidInput):
            counter.exposed.set_property("count", "many")
        with pytest.raises(lmos.InvalidInput):
            counter.exposed.emit_event("reset", {"by": 3})


async def test_outputs_that_break_the_schema(caplog: pytest.LogCaptureFixture) -> None:
    servient, counter = await served()
    async with servient:
        thing = await lmos.consume(counter.exposed.td_url)
        with caplog.at_level(logging.ERROR, logger="lmos"):
            with pytest.raises(lmos.RemoteError) as caught:
                await thing.invoke_action("bad_output")
        assert caught.value.status == 500
        assert "counter/actions/bad_output" in caplog.text


async def test_bad_inputs_give_clear_exceptions() -> None:
    servient, counter = await served()
    async with servient:
        thing = await lmos.consume(counter.exposed.td_url)
        with pytest.raises(TypeError, match="cannot be sent as JSON"):
            await thing.invoke_action("add", {"by": object()})
        with pytest.raises(TypeError):
            await thing.write_property("label", float("nan"))
        with pytest.raises(lmos.NotFound) as missing:
            await thing.read_property("nope")
        assert missing.value.code == "not_found"
        with pytest.raises(lmos.NotFound):
            await thing.invoke_action("nope")
        with pytest.raises(lmos.NotFound):
            counter.exposed.set_property("nope", 1)
        with pytest.raises(lmos.NotFound):
            await thing.subscribe_event("nope")
        with pytest.raises(lmos.NoForm):  # a read-only property has no writeproperty form
            await thing.write_property("version", "2.0")
        with pytest.raises(lmos.NotFound):
            counter.exposed.on_action("nope", lambda: None)
        with pytest.raises(lmos.ConfigurationError):
            await lmos.consume(counter.exposed.td_url, subprotocols=["carrier-pigeon"])


async def test_unreachable_things_and_bad_tds() -> None:
    async with lmos.Servient(http_port=0) as servient:
        port = servient.http_address[1]
    with pytest.raises(lmos.TransportError):
        await lmos.consume(f"http://127.0.0.1:{port}/gone")
    with pytest.raises(lmos.InvalidThingDescription):
        lmos.ConsumedThing({"title": "no context, no security"})
    with pytest.raises(lmos.InvalidThingDescription):
        lmos.Servient(http_port=0).expose({"title": 3})


async def test_handlers_see_the_trace_and_continue_it_in_their_own_calls() -> None:
    async with lmos.Servient(http_port=0) as servient:
        inner = servient.expose(lmos.agent("Inner").action("trace", output={"type": "object"}))

        @inner.action("trace")
        async def inner_trace(_input: None, ctx: lmos.InteractionContext) -> dict[str, Any]:
            return {"traceparent": ctx.traceparent, "trace_id": ctx.trace_id}

        outer = servient.expose(lmos.agent("Outer").action("relay", output={"type": "object"}))

        @outer.action("relay")
        async def relay(_input: None, ctx: lmos.InteractionContext) -> dict[str, Any]:
            inner_thing = await lmos.consume(inner.td_url)
            seen = await inner_thing.invoke_action("trace")
            return {"outer": ctx.trace_id, "inner": seen}

        outer_thing = await lmos.consume(outer.td_url)
        result = await outer_thing.invoke_action("relay")
        assert result["inner"]["traceparent"] is not None
        assert result["inner"]["trace_id"] == result["outer"]
        assert result["inner"]["traceparent"].split("-")[1] == result["outer"]


async def test_a_consumed_thing_from_a_dict_with_form_preferences() -> None:
    servient, counter = await served()
    async with servient:
        td = counter.exposed.td
        thing = lmos.ConsumedThing(td, content_types=["application/cbor"])
        assert await thing.invoke_action("add", {"by": 7}) == 7
        # Preferences rank forms; a protocol the TD does not offer falls back to one it does.
        fallback = lmos.ConsumedThing(td, protocols=["coap", "http"], subprotocols=["longpoll"])
        assert await fallback.read_property("count") == 7


async def test_local_handlers_can_be_plain_functions_and_need_no_context() -> None:
    async with lmos.Servient(http_port=0) as servient:
        exposed = servient.expose(
            lmos.tool("Plain").action("double", input={"type": "number"}, output={"type": "number"})
        )
        exposed.on_action("double", lambda x: x * 2)
        thing = await lmos.consume(exposed.td_url)
        assert await thing.invoke_action("double", 2.5) == 5.0


def test_handlers_registered_before_any_event_loop_run_on_the_loop_that_starts_the_servient() -> (
    None
):
    servient = lmos.Servient(http_port=0)
    exposed = servient.expose(lmos.tool("Early").action("where", output={"type": "boolean"}))
    loops: list[asyncio.AbstractEventLoop] = []

    @exposed.action("where")
    async def where() -> bool:
        return asyncio.get_running_loop() is loops[0]

    async def main() -> bool:
        loops.append(asyncio.get_running_loop())
        async with servient:
            thing = await lmos.consume(exposed.td_url)
            return bool(await thing.invoke_action("where"))

    assert asyncio.run(main()) is True


async def test_concurrent_calls_each_get_their_own_result_from_a_real_task() -> None:
    async with lmos.Servient(http_port=0) as servient:
        exposed = servient.expose(
            lmos.tool("Echo")
            .action("now", input={"type": "integer"}, output={"type": "object"})
            .action("later", input={"type": "integer"}, output={"type": "object"})
        )

        def answer(n: int) -> dict[str, Any]:
            task = asyncio.current_task()
            return {"n": n, "in_task": task is not None and not task.done()}

        @exposed.action("now")
        async def now(n: int) -> dict[str, Any]:
            return answer(n)  # never suspends

        @exposed.action("later")
        async def later(n: int) -> dict[str, Any]:
            await asyncio.sleep(0.001 * (n % 7))
            return answer(n)

        thing = await lmos.consume(exposed.td_url)
        calls = [thing.invoke_action("now" if n % 2 else "later", n) for n in range(300)]
        results = await asyncio.wait_for(asyncio.gather(*calls), WAIT)
    assert results == [{"n": n, "in_task": True} for n in range(300)]


def test_a_servient_whose_event_loop_has_closed_answers_with_an_error() -> None:
    servient = lmos.Servient(http_port=0)
    exposed = servient.expose(lmos.tool("Orphan").action("ping", output={"type": "string"}))

    @exposed.action("ping")
    async def ping() -> str:
        return "pong"

    async def start_and_leave() -> None:
        await servient.start()  # the handlers' loop closes when this returns

    async def call_and_stop() -> None:
        try:
            thing = await lmos.consume(exposed.td_url)
            with pytest.raises(lmos.RemoteError) as caught:
                await asyncio.wait_for(thing.invoke_action("ping"), WAIT)
            assert caught.value.status == 500
        finally:
            await servient.shutdown()

    asyncio.run(start_and_leave())
    asyncio.run(call_and_stop())
