//! Arbitrary bytes → WebSocket frames (split at newlines) → the `lmosprotocol` message decoder
//! and one connection's dispatcher, against a servient hosting a thing with properties, actions
//! and events.
//!
//! Invariants checked (a failure is a bug, not just a crash):
//! - nothing panics, whatever the frames;
//! - a decoded message, written in either dialect, decodes again, and writing it once more gives
//!   the same JSON (serialization is stable);
//! - every message the dispatcher sends decodes with the same decoder (a peer can read it), and
//!   is not a request;
//! - every frame that decodes as a request to a known thing gets at most one `error` reply per
//!   frame, and every frame that does not decode gets exactly one `error`.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use lmos::binding::ws::messages::{Dialect, Message, Style};
use lmos::binding::ws::server::dispatch_frames;
use lmos::td::{ActionAffordance, DataSchema, EventAffordance, PropertyAffordance, ThingBuilder};
use lmos::thing::handler::{invoke_with, stream_with};
use lmos::thing::{ActionUpdate, Servient};
use serde_json::{json, Value};

struct World {
    runtime: tokio::runtime::Runtime,
    servient: Servient,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let servient = Servient::builder().build().expect("servient");
        let thing = ThingBuilder::agent("Fuzz")
            .id("urn:fuzz")
            .property(
                "p",
                PropertyAffordance::new(DataSchema::of_type("integer")).observable(),
            )
            .property(
                "ro",
                PropertyAffordance::new(DataSchema::of_type("string")).read_only(),
            )
            .action(
                "a",
                ActionAffordance::new().input(DataSchema::object(
                    [("q", DataSchema::of_type("string"))],
                    &["q"],
                )),
            )
            .action("s", ActionAffordance::new())
            .event(
                "e",
                EventAffordance::new().data(DataSchema::of_type("integer")),
            )
            .build();
        let exposed = servient.expose(thing).expect("expose");
        exposed.set_property("p", json!(1)).expect("set");
        exposed
            .on_action("a", invoke_with(|input, _| async move { Ok(input) }))
            .expect("handler");
        exposed
            .on_action_stream(
                "s",
                stream_with(|_input: Value, _| {
                    futures::stream::iter([
                        Ok(ActionUpdate::Progress(json!(1))),
                        Ok(ActionUpdate::Output(json!(2))),
                    ])
                }),
            )
            .expect("handler");
        World { runtime, servient }
    })
}

fn check_round_trip(text: &str) {
    let Ok(parsed) = Message::parse(text) else {
        return;
    };
    for dialect in [Dialect::Spec, Dialect::KotlinWot] {
        let style = Style::of(dialect);
        let once = parsed.message.to_json(style);
        let again = Message::parse(&once)
            .unwrap_or_else(|e| panic!("our own {dialect:?} output does not decode: {once} ({e:?})"));
        let twice = again.message.to_json(style);
        let (a, b): (Value, Value) = (
            serde_json::from_str(&once).expect("json"),
            serde_json::from_str(&twice).expect("json"),
        );
        assert_eq!(a, b, "serialization is not stable in {dialect:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let frames: Vec<String> = text.split('\n').take(8).map(str::to_owned).collect();
    for frame in &frames {
        check_round_trip(frame);
    }
    let world = world();
    for dialect in [Dialect::Spec, Dialect::KotlinWot] {
        let sent = world.runtime.block_on(dispatch_frames(
            &world.servient,
            dialect,
            frames.clone(),
            Duration::from_millis(0),
        ));
        let mut errors = 0usize;
        for message in &sent {
            let parsed = Message::parse(message)
                .unwrap_or_else(|e| panic!("the server sent something undecodable: {message} ({e:?})"));
            assert!(
                !parsed.message.body.is_request(),
                "the server sent a request: {message}"
            );
            if parsed.message.body.message_type() == "error" {
                errors += 1;
            }
        }
        let undecodable = frames.iter().filter(|f| Message::parse(f).is_err()).count();
        assert!(
            errors >= undecodable,
            "{undecodable} bad frames but only {errors} errors: {frames:?} -> {sent:?}"
        );
        assert!(
            errors <= frames.len(),
            "more errors than frames: {frames:?} -> {sent:?}"
        );
    }
});
