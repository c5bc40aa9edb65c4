//! The steps of `lmos demo` and their transcript.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use lmos::discovery::SearchQuery;
use lmos::identity::SignaturePolicy;
use lmos::td::Thing;
use lmos::thing::{ActionUpdate, ConsumeOptions, ConsumedThing, ThingError};
use serde_json::{json, Value};

use super::mdns::{self, MdnsOutcome};
use super::network::{self, EmbeddedDirectory, Service, TempFolder};
use crate::Format;

/// Longest time one step may take before it counts as failed.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Failed,
    /// The step cannot be done on this host (or with these options); not a failure.
    NotAvailable,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::NotAvailable => "not-available",
        }
    }

    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Failed => "✗",
            Status::NotAvailable => "–",
        }
    }
}

/// Prints the steps as they end and remembers whether all worked.
struct Transcript {
    format: Format,
    steps: usize,
    not_available: usize,
    failed: bool,
}

impl Transcript {
    fn new(format: Format) -> Self {
        Transcript {
            format,
            steps: 0,
            not_available: 0,
            failed: false,
        }
    }

    fn print(&mut self, title: &str, status: Status, detail: &str) {
        self.steps += 1;
        match status {
            Status::Failed => self.failed = true,
            Status::NotAvailable => self.not_available += 1,
            Status::Ok => {}
        }
        let text = match self.format {
            Format::Text => {
                let indented = detail.replace('\n', "\n       ");
                format!(
                    "{:>2}. {} {title}\n       {indented}\n",
                    self.steps,
                    status.mark()
                )
            }
            Format::Json => format!(
                "{}\n",
                json!({
                    "step": self.steps,
                    "title": title,
                    "status": status.as_str(),
                    "ok": status != Status::Failed,
                    "detail": detail,
                })
            ),
        };
        crate::write_stdout(&text);
    }

    /// Runs `work` (bounded by [`STEP_TIMEOUT`]) and prints its outcome: its detail on success,
    /// why on failure. `None` when it failed.
    async fn step<T>(
        &mut self,
        title: &str,
        work: impl Future<Output = Result<(T, String), String>>,
    ) -> Option<T> {
        let outcome = match tokio::time::timeout(STEP_TIMEOUT, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!(
                "did not finish within {} seconds",
                STEP_TIMEOUT.as_secs()
            )),
        };
        match outcome {
            Ok((value, detail)) => {
                self.print(title, Status::Ok, &detail);
                Some(value)
            }
            Err(why) => {
                self.print(title, Status::Failed, &why);
                None
            }
        }
    }
}

/// What the steps started, so that it can be stopped whatever step failed.
#[derive(Default)]
struct Started {
    folder: Option<TempFolder>,
    directory: Option<EmbeddedDirectory>,
    weather: Option<Service>,
    geocoder: Option<Service>,
}

/// Runs the demo; exit status 0 when every step worked, 1 when one failed.
pub async fn run(format: Format, loopback: bool) -> u8 {
    let (host, reachable) = network::service_host(loopback);
    if format == Format::Text {
        crate::write_stdout(&format!(
            "lmos demo: a directory (127.0.0.1), a weather agent and a geocoding tool ({host}) — \
             registered, found, verified and called over HTTP and WebSocket.\n\n",
        ));
    }
    let mut transcript = Transcript::new(format);
    let mut started = Started::default();
    let completed = steps(&mut transcript, &mut started, host, reachable)
        .await
        .is_some();
    shut_down(&mut transcript, started, completed).await;
    if format == Format::Text {
        let summary = if transcript.failed {
            "\nA step failed (✗): see its reason above.\n".to_owned()
        } else if transcript.not_available > 0 {
            format!(
                "\nAll {} steps worked; {} (–) not available here.\n",
                transcript.steps - transcript.not_available,
                transcript.not_available
            )
        } else {
            format!("\nAll {} steps worked.\n", transcript.steps)
        };
        crate::write_stdout(&summary);
    }
    if transcript.failed {
        crate::EXIT_INVALID
    } else {
        crate::EXIT_OK
    }
}

/// Consume options that accept only TDs with a valid proof; `protocol` is the preferred URI
/// scheme of the forms used.
fn require_signed(protocol: &str) -> ConsumeOptions {
    ConsumeOptions {
        protocols: vec![protocol.to_owned()],
        signature_policy: SignaturePolicy::Require,
        ..ConsumeOptions::default()
    }
}

/// Services found in the directory, their TDs as the directory returned them.
struct Found {
    weather: Value,
    geocoder: Value,
}

/// The verified TDs of both services, ready to consume.
struct Verified {
    weather: Thing,
    geocoder: Thing,
}

async fn steps(
    transcript: &mut Transcript,
    started: &mut Started,
    host: std::net::IpAddr,
    reachable: bool,
) -> Option<()> {
    let folder = transcript
        .step("Create a temporary folder", async {
            let folder = TempFolder::create()?;
            let detail = folder.path().display().to_string();
            Ok((folder, detail))
        })
        .await?;
    let folder_path = folder.path().to_owned();
    started.folder = Some(folder);

    let directory = transcript
        .step("Start the directory (SQLite store)", async {
            let directory = EmbeddedDirectory::start(&folder_path).await?;
            if !directory.db_path.is_file() {
                return Err(format!("{} was not created", directory.db_path.display()));
            }
            let own = directory
                .client
                .describe()
                .await
                .map_err(|e| format!("its own TD cannot be read: {e}"))?;
            let detail = format!(
                "{} serves {} (@type {}), store {}",
                own["title"].as_str().unwrap_or("the directory"),
                directory.base_url(),
                own["@type"],
                directory.db_path.display()
            );
            Ok((directory, detail))
        })
        .await?;
    let client = directory.client.clone();
    started.directory = Some(directory);

    let (weather_key, geocoder_key) = transcript
        .step("Make a did:key identity per service", async {
            let weather = network::new_key()?;
            let geocoder = network::new_key()?;
            let detail = format!(
                "WeatherAgent {}\nGeocoder     {}",
                weather.did(),
                geocoder.did()
            );
            Ok(((weather, geocoder), detail))
        })
        .await?;

    let weather = transcript
        .step("Start the weather agent (lmos:Agent)", async {
            let service = network::start_weather(weather_key, host).await?;
            let detail = listening(&service);
            Ok((service, detail))
        })
        .await?;
    started.weather = Some(weather);

    let geocoder = transcript
        .step("Start the geocoding tool (lmos:Tool)", async {
            let service = network::start_geocoder(geocoder_key, host).await?;
            let detail = listening(&service);
            Ok((service, detail))
        })
        .await?;
    started.geocoder = Some(geocoder);

    let (Some(weather), Some(geocoder)) = (started.weather.as_mut(), started.geocoder.as_mut())
    else {
        return None;
    };
    transcript
        .step("Register both in the directory (signed TDs)", async {
            let weather_id = weather.register(&client).await?;
            let geocoder_id = geocoder.register(&client).await?;
            let listed = client
                .list()
                .await
                .map_err(|e| format!("cannot list the directory: {e}"))?;
            let ids: Vec<&str> = listed.iter().filter_map(|td| td["id"].as_str()).collect();
            for id in [&weather_id, &geocoder_id] {
                if !ids.contains(&id.as_str()) {
                    return Err(format!("{id} is not listed by the directory: {ids:?}"));
                }
            }
            let detail = format!(
                "WeatherAgent as {weather_id}\nGeocoder     as {geocoder_id}\nthe directory lists {} entries",
                listed.len()
            );
            Ok(((), detail))
        })
        .await?;
    let (weather, geocoder) = (&*weather, &*geocoder);

    let found = transcript
        .step("Find them through the directory", async {
            let weather_td = search_one(
                &client,
                "agent",
                "an agent that can tell the weather",
                weather,
            )
            .await?;
            let geocoder_td =
                search_one(&client, "tool", "find the coordinates of a city", geocoder).await?;
            let detail = format!(
                "type=agent q=\"an agent that can tell the weather\" → {}\n\
                 type=tool q=\"find the coordinates of a city\" → {}",
                weather_td["title"].as_str().unwrap_or_default(),
                geocoder_td["title"].as_str().unwrap_or_default()
            );
            Ok((
                Found {
                    weather: weather_td,
                    geocoder: geocoder_td,
                },
                detail,
            ))
        })
        .await?;

    let mdns_title = "Find them through mDNS";
    match tokio::time::timeout(STEP_TIMEOUT, mdns::find(&[weather, geocoder], reachable)).await {
        Ok(Ok(MdnsOutcome::Found(detail))) => transcript.print(mdns_title, Status::Ok, &detail),
        Ok(Ok(MdnsOutcome::NotAvailable(why))) => {
            transcript.print(mdns_title, Status::NotAvailable, &why)
        }
        Ok(Err(why)) => {
            transcript.print(mdns_title, Status::Failed, &why);
            return None;
        }
        Err(_) => {
            transcript.print(mdns_title, Status::Failed, "did not finish in time");
            return None;
        }
    }

    let verified = transcript
        .step("Verify their signed descriptions", async {
            let weather_thing = verify(&found.weather, weather).await?;
            let geocoder_thing = verify(&found.geocoder, geocoder).await?;
            let detail = format!(
                "WeatherAgent: directory copy and served TD signed by {}\n\
                 Geocoder:     directory copy and served TD signed by {}",
                weather.key.did(),
                geocoder.key.did()
            );
            Ok((
                Verified {
                    weather: weather_thing,
                    geocoder: geocoder_thing,
                },
                detail,
            ))
        })
        .await?;

    for (protocol, name) in [("http", "HTTP"), ("ws", "WebSocket")] {
        calls(transcript, &verified, protocol, name).await?;
    }
    Some(())
}

/// `error` in a sentence, with the `detail` of the peer's problem document when it sent one
/// (the title alone, e.g. "invalid input", does not say why).
fn why(error: &ThingError) -> String {
    // `Remote` already names its detail; `ActionFailed` names only the title.
    let problem = match error {
        ThingError::ActionFailed {
            problem: Some(problem),
            ..
        } => Some(problem),
        _ => None,
    };
    match problem
        .and_then(|p| p.get("detail"))
        .and_then(Value::as_str)
    {
        Some(detail) => format!("{error} ({detail})"),
        None => error.to_string(),
    }
}

/// Where a service listens and where its TD is.
fn listening(service: &Service) -> String {
    let address = |a: Option<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    format!(
        "{} on HTTP {} and WebSocket {}\nTD {}",
        service.title(),
        address(service.addresses.http),
        address(service.addresses.ws),
        service.td_url
    )
}

/// Searches the directory for `kind` (`agent` or `tool`) with `text`; the best match must be
/// `service`.
async fn search_one(
    client: &lmos::discovery::DirectoryClient,
    kind: &str,
    text: &str,
    service: &Service,
) -> Result<Value, String> {
    let query = SearchQuery {
        types: vec![kind.to_owned()],
        text: Some(text.to_owned()),
        limit: 10,
        ..SearchQuery::default()
    };
    let results = client
        .search(&query)
        .await
        .map_err(|e| format!("searching for {kind} {text:?} failed: {e}"))?;
    let best = results
        .into_iter()
        .next()
        .ok_or_else(|| format!("no {kind} matches {text:?}"))?;
    if best["title"] != service.title() {
        return Err(format!(
            "the best {kind} for {text:?} is {}, not {}",
            best["title"],
            service.title()
        ));
    }
    Ok(best)
}

/// Checks the TD the directory returned (less the `registration` member the directory adds)
/// and the TD the service serves, each with [`SignaturePolicy::Require`]; both must be signed by
/// the service's own key. Returns the verified directory copy.
async fn verify(found: &Value, service: &Service) -> Result<Thing, String> {
    let mut document = found.clone();
    if let Some(map) = document.as_object_mut() {
        map.remove("registration");
    }
    let thing = Thing::from_value(document)
        .map_err(|e| format!("the directory's copy of {} is no TD: {e}", service.title()))?;
    let from_directory =
        ConsumedThing::new(thing.clone(), require_signed("http")).map_err(|e| {
            format!(
                "the directory's copy of {} does not verify: {e}",
                service.title()
            )
        })?;
    let served = ConsumedThing::from_url(&service.td_url, require_signed("http"))
        .await
        .map_err(|e| format!("the TD at {} does not verify: {e}", service.td_url))?;
    let expected = service.key.did();
    for (what, consumed) in [("directory copy", &from_directory), ("served TD", &served)] {
        let signers: Vec<&str> = consumed
            .verified_proofs()
            .iter()
            .map(|proof| proof.signer.as_str())
            .collect();
        if signers != [expected.as_str()] {
            return Err(format!(
                "the {what} of {} is signed by {signers:?}, not by {expected}",
                service.title()
            ));
        }
    }
    Ok(thing)
}

/// The `href` of the first form of `affordance` (an action or event) with a URI of `scheme`.
fn form_href(thing: &Thing, affordance: &str, scheme: &str) -> Result<String, String> {
    let value = thing.to_value();
    let forms = ["actions", "events"]
        .iter()
        .find_map(|kind| value[kind][affordance]["forms"].as_array())
        .ok_or_else(|| format!("{} has no affordance {affordance}", thing.title))?;
    forms
        .iter()
        .filter_map(|form| form["href"].as_str())
        .find(|href| href.starts_with(&format!("{scheme}://")))
        .map(str::to_owned)
        .ok_or_else(|| format!("{}'s {affordance} has no {scheme}:// form", thing.title))
}

/// The plain call, the streamed action and the event subscription over one transport.
async fn calls(
    transcript: &mut Transcript,
    verified: &Verified,
    protocol: &str,
    name: &str,
) -> Option<()> {
    let consume = |thing: &Thing| {
        ConsumedThing::new(thing.clone(), require_signed(protocol))
            .map_err(|e| format!("cannot consume {}: {e}", thing.title))
    };

    let coordinates = transcript
        .step(&format!("{name}: Geocoder geocode (plain call)"), async {
            let href = form_href(&verified.geocoder, "geocode", protocol)?;
            let geocoder = consume(&verified.geocoder)?;
            let output = geocoder
                .invoke_action("geocode", json!({"city": "Bonn"}))
                .await
                .map_err(|e| format!("geocode failed: {}", why(&e)))?;
            let (Some(lat), Some(lon)) = (output["lat"].as_f64(), output["lon"].as_f64()) else {
                return Err(format!("geocode answered no coordinates: {output}"));
            };
            let known = super::geocoder::coordinates("Bonn");
            if output["city"] != "Bonn" || known.map(|(_, la, lo)| (la, lo)) != Some((lat, lon)) {
                return Err(format!("geocode answered the wrong place: {output}"));
            }
            Ok((
                (lat, lon),
                format!("{href}\n{{\"city\":\"Bonn\"}} → lat {lat}, lon {lon}"),
            ))
        })
        .await?;

    transcript
        .step(
            &format!("{name}: WeatherAgent getWeather (plain call)"),
            async {
                let href = form_href(&verified.weather, "getWeather", protocol)?;
                let weather = consume(&verified.weather)?;
                let question = format!(
                    "Will it rain in Bonn ({:.2}, {:.2}) tomorrow?",
                    coordinates.0, coordinates.1
                );
                let answer = weather
                    .invoke_action(
                        "getWeather",
                        json!({"question": question, "interactionMode": "text"}),
                    )
                    .await
                    .map_err(|e| format!("getWeather failed: {}", why(&e)))?;
                let text = answer
                    .as_str()
                    .ok_or_else(|| format!("getWeather answered no text: {answer}"))?;
                if !text.contains("Bonn") {
                    return Err(format!("the answer is not about Bonn: {text}"));
                }
                Ok(((), format!("{href}\n{text}")))
            },
        )
        .await?;

    transcript
        .step(
            &format!("{name}: WeatherAgent forecast (streamed action)"),
            async {
                let href = form_href(&verified.weather, "forecast", protocol)?;
                let weather = consume(&verified.weather)?;
                let days = 3;
                let mut updates = weather
                    .invoke_action_stream("forecast", json!({"city": "Bonn", "days": days}))
                    .await
                    .map_err(|e| format!("forecast failed: {}", why(&e)))?;
                let mut progress = Vec::new();
                let mut output = None;
                while let Some(update) = updates.next().await {
                    match update.map_err(|e| format!("forecast failed: {}", why(&e)))? {
                        ActionUpdate::Progress(value) => progress.push(value),
                        ActionUpdate::Output(value) => {
                            output = Some(value);
                            break;
                        }
                    }
                }
                let output = output.ok_or("the forecast ended without an output")?;
                let entries = output
                    .as_array()
                    .filter(|entries| entries.len() == days)
                    .ok_or_else(|| format!("the forecast has not {days} days: {output}"))?;
                if progress.is_empty() {
                    return Err("the forecast reported no progress".into());
                }
                let summary: Vec<String> = entries
                    .iter()
                    .map(|e| {
                        format!(
                            "day {} {} {} °C",
                            e["day"],
                            e["summary"].as_str().unwrap_or("?"),
                            e["temperatureC"]
                        )
                    })
                    .collect();
                let progress: Vec<String> = progress.iter().map(Value::to_string).collect();
                Ok((
                    (),
                    format!(
                        "{href}\nprogress {}\nthen {}",
                        progress.join(" "),
                        summary.join(", ")
                    ),
                ))
            },
        )
        .await?;

    transcript
        .step(
            &format!("{name}: WeatherAgent userFeedbackReceived (event, triggered by rate)"),
            async {
                let href = form_href(&verified.weather, "userFeedbackReceived", protocol)?;
                let weather = consume(&verified.weather)?;
                let mut events = weather
                    .subscribe_event("userFeedbackReceived")
                    .await
                    .map_err(|e| {
                        format!("cannot subscribe to userFeedbackReceived: {}", why(&e))
                    })?;
                let rating = json!({"rating": 5, "comment": format!("helpful, over {name}")});
                weather
                    .invoke_action("rate", rating.clone())
                    .await
                    .map_err(|e| format!("rate failed: {}", why(&e)))?;
                let event = events
                    .next()
                    .await
                    .ok_or("the subscription ended before the event")?
                    .map_err(|e| format!("the subscription failed: {}", why(&e)))?;
                if event != rating {
                    return Err(format!("the event carries {event}, not {rating}"));
                }
                Ok(((), format!("{href}\nrate {rating} → event {event}")))
            },
        )
        .await?;
    Some(())
}

/// Deregisters and stops everything that started; after a complete run this is a step of its
/// own that checks the directory is empty again.
async fn shut_down(transcript: &mut Transcript, started: Started, completed: bool) {
    let Started {
        folder,
        directory,
        weather,
        geocoder,
    } = started;
    let work = async {
        let mut problems = Vec::new();
        for service in [weather, geocoder].into_iter().flatten() {
            if let Err(e) = service.stop().await {
                problems.push(e);
            }
        }
        let mut detail = "both services deregistered and stopped".to_owned();
        if let Some(directory) = directory {
            match directory.client.list().await {
                Ok(left) if left.is_empty() => detail.push_str("; the directory is empty again"),
                Ok(left) => problems.push(format!(
                    "the directory still lists {} entries after deregistration",
                    left.len()
                )),
                Err(e) => problems.push(format!("cannot list the directory: {e}")),
            }
            directory.shutdown().await;
        }
        if let Some(folder) = folder {
            let path = folder.path().to_owned();
            drop(folder);
            if path.exists() {
                problems.push(format!("{} is still there", path.display()));
            } else {
                detail.push_str(&format!("; {} removed", path.display()));
            }
        }
        if problems.is_empty() {
            Ok(((), detail))
        } else {
            Err(problems.join("; "))
        }
    };
    if completed {
        transcript.step("Shut down (deregister, stop)", work).await;
    } else if let Err(why) = work.await {
        errln!("lmos demo: shutting down: {why}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_call_says_why_over_both_transports() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let geocoder = network::start_geocoder(network::new_key().unwrap(), network::HOST)
            .await
            .unwrap();
        let td = geocoder.signed_description().unwrap();
        let thing = Thing::from_value(td).unwrap();
        for protocol in ["http", "ws"] {
            let consumed = ConsumedThing::new(thing.clone(), require_signed(protocol)).unwrap();
            let error = consumed
                .invoke_action("geocode", json!({"city": "Atlantis"}))
                .await
                .unwrap_err();
            let text = why(&error);
            assert!(
                text.contains("unknown city \"Atlantis\"") && text.contains("Bonn"),
                "{protocol}: {text}"
            );
        }
        geocoder.stop().await.unwrap();
    }
}
