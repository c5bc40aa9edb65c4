//! The demo's geocoding tool (`lmos:Tool`): the action `geocode` turns a city name into
//! coordinates from a small built-in table — what the weather agent would ask before a forecast.

use lmos::td::{ActionAffordance, DataSchema, Thing, ThingBuilder};
use lmos::thing::handler::invoke_with;
use lmos::thing::{ExposedThing, HandlerError, ThingError};
use serde_json::{json, Value};

/// The cities the tool knows: name, latitude, longitude (WGS 84, degrees).
const CITIES: &[(&str, f64, f64)] = &[
    ("Berlin", 52.5200, 13.4050),
    ("Bonn", 50.7374, 7.0982),
    ("Cologne", 50.9375, 6.9603),
    ("Darmstadt", 49.8728, 8.6512),
    ("Frankfurt", 50.1109, 8.6821),
    ("Hamburg", 53.5511, 9.9937),
    ("London", 51.5072, -0.1276),
    ("Munich", 48.1351, 11.5820),
    ("New York", 40.7128, -74.0060),
    ("Paris", 48.8566, 2.3522),
];

/// The coordinates of `city` (compared without regard to case or surrounding spaces).
pub fn coordinates(city: &str) -> Option<(&'static str, f64, f64)> {
    let wanted = city.trim();
    CITIES
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(wanted))
        .copied()
}

/// The geocoding tool's Thing Description (forms are filled in by the servient).
pub fn description() -> Thing {
    let mut latitude = DataSchema::of_type("number").describe("Latitude in degrees (WGS 84).");
    latitude.minimum = Some((-90).into());
    latitude.maximum = Some(90.into());
    let mut longitude = DataSchema::of_type("number").describe("Longitude in degrees (WGS 84).");
    longitude.minimum = Some((-180).into());
    longitude.maximum = Some(180.into());
    ThingBuilder::tool("Geocoder")
        .id("urn:uuid:0b6f2f8e-5d0c-4a51-9a43-3c1e7f2d9b10")
        .description(
            "A tool that finds the coordinates of a city, for agents that need a location.",
        )
        .vendor("lmos demo", None)
        .action(
            "geocode",
            ActionAffordance::new()
                .description("Finds the latitude and longitude of a city.")
                .safe(true)
                .idempotent(true)
                .synchronous(true)
                .input(DataSchema::object(
                    [(
                        "city",
                        DataSchema::of_type("string").describe("The city's name, e.g. Bonn."),
                    )],
                    &["city"],
                ))
                .output(DataSchema::object(
                    [
                        (
                            "city",
                            DataSchema::of_type("string").describe("The city's name as known."),
                        ),
                        ("lat", latitude),
                        ("lon", longitude),
                    ],
                    &["city", "lat", "lon"],
                )),
        )
        .build()
}

/// Registers the handler of `geocode`; an unknown city is refused as invalid input.
pub fn serve(exposed: &ExposedThing) -> Result<(), ThingError> {
    exposed.on_action(
        "geocode",
        invoke_with(|input: Value, _ctx| async move {
            let city = input["city"].as_str().unwrap_or_default();
            let (name, lat, lon) = coordinates(city).ok_or_else(|| {
                HandlerError::InvalidInput(format!(
                    "unknown city {city:?}; known: {}",
                    CITIES
                        .iter()
                        .map(|(name, _, _)| *name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            Ok(json!({"city": name, "lat": lat, "lon": lon}))
        }),
    )
}
