//! Directory benchmark: registration throughput and search latency (type, text, JSONPath) over
//! HTTP on loopback, with N generated agent/tool TDs, on SQLite and (when LMOS_TEST_POSTGRES_URL is
//! set, e.g. under `scripts/with-postgres`) PostgreSQL. Prints one table; the published Zion
//! figures (the best directory figures we know) stand next to ours with the ratio.
//!
//! `cargo bench -p lmos --bench directory -- [N ...]` (default 10000)
//! Knobs: SEARCHES (100 per query kind), JSONPATH_SEARCHES (10), FULL_JSONPATH_SEARCHES (the
//! JSONPath query that reads every TD; default JSONPATH_SEARCHES), CONCURRENCY (16 writers),
//! STORES (`sqlite,postgres`: which stores to run; PostgreSQL needs LMOS_TEST_POSTGRES_URL).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lmos::discovery::{Directory, DirectoryStore, PostgresStore, SqliteStore};
use serde_json::{json, Value};

#[path = "support/bench_results.rs"]
mod bench_results;
use bench_results::record;

const DOMAINS: &[(&str, &str, &str)] = &[
    (
        "Weather",
        "weather forecast temperature rain wind",
        "getForecast",
    ),
    (
        "Travel",
        "flights hotels trips itineraries booking",
        "planTrip",
    ),
    (
        "Finance",
        "stocks portfolio exchange rates invoices",
        "quoteStock",
    ),
    (
        "News",
        "headlines articles breaking stories summaries",
        "latestHeadlines",
    ),
    (
        "Translation",
        "translate languages text documents speech",
        "translateText",
    ),
    (
        "Calendar",
        "meetings events schedule appointments reminders",
        "scheduleMeeting",
    ),
    ("Email", "mail inbox messages drafts replies", "sendEmail"),
    (
        "Maps",
        "geocoding addresses routes directions coordinates",
        "geocode",
    ),
    (
        "Shopping",
        "products prices orders carts deliveries",
        "searchProducts",
    ),
    (
        "Health",
        "symptoms appointments prescriptions fitness sleep",
        "checkSymptoms",
    ),
    (
        "Sports",
        "scores fixtures teams leagues results",
        "liveScores",
    ),
    ("Music", "songs playlists artists albums lyrics", "playSong"),
    (
        "Recipes",
        "cooking ingredients meals nutrition dishes",
        "findRecipe",
    ),
    (
        "Legal",
        "contracts clauses compliance regulations cases",
        "reviewContract",
    ),
    (
        "Code",
        "repositories pull requests reviews builds tests",
        "reviewCode",
    ),
    (
        "Support",
        "tickets customers complaints refunds answers",
        "openTicket",
    ),
    (
        "Energy",
        "meters tariffs consumption solar batteries",
        "readMeter",
    ),
    (
        "Telecom",
        "contracts mobile plans roaming invoices network",
        "checkPlan",
    ),
    (
        "Insurance",
        "claims policies damages coverage quotes",
        "fileClaim",
    ),
    (
        "Education",
        "courses lessons quizzes students grades",
        "findCourse",
    ),
];
const VENDORS: &[&str] = &[
    "ACME",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Aperture",
    "Vandelay",
    "Oscorp",
    "Massive Dynamic",
    "Dunder",
];
const NOUNS: &[&str] = &[
    "Assistant",
    "Advisor",
    "Planner",
    "Helper",
    "Expert",
    "Service",
    "Bot",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() as usize) % items.len()]
    }
}

/// A realistic LMOS agent or tool TD (about 2 KB).
fn generate(i: usize, rng: &mut Rng) -> Value {
    let (domain, words, action) = *rng.pick(DOMAINS);
    let vendor = *rng.pick(VENDORS);
    let noun = *rng.pick(NOUNS);
    let agent = rng.next() % 2 == 0;
    let title = format!("{domain} {noun} {i}");
    let slug = title.to_lowercase().replace(' ', "-");
    let base = format!(
        "https://{}.example.com/{slug}/",
        vendor.to_lowercase().replace(' ', "-")
    );
    let mut actions = serde_json::Map::new();
    actions.insert(
        action.into(),
        json!({
            "title": format!("{domain} {action}"),
            "description": format!("Answers questions about {words} for {vendor} customers"),
            "input": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
            "output": {"type": "object", "properties": {"answer": {"type": "string"}}},
            "forms": [{"href": format!("{base}actions/{action}"), "contentType": "application/json"}]
        }),
    );
    let (_, other_words, other) = *rng.pick(DOMAINS);
    if other != action {
        actions.insert(
            other.into(),
            json!({
                "description": format!("Also handles {other_words}"),
                "input": {"type": "string"},
                "forms": [{"href": format!("{base}actions/{other}")}]
            }),
        );
    }
    json!({
        "@context": ["https://www.w3.org/2022/wot/td/v1.1", {"lmos": "https://eclipse.dev/lmos/protocol/v1"}],
        "@type": if agent { "lmos:Agent" } else { "lmos:Tool" },
        "id": format!("urn:bench:{i:06}"),
        "title": title,
        "description": format!("{} for {words}. Provided by {vendor}.", if agent { "A conversational agent" } else { "A tool" }),
        "version": {"instance": "1.0.0"},
        "lmos:metadata": {"lmos:vendor": {"lmos:name": vendor, "lmos:url": format!("https://{}.example.com", vendor.to_lowercase().replace(' ', "-"))}},
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
        "properties": {
            "status": {"type": "string", "readOnly": true, "enum": ["ready", "busy"],
                "forms": [{"href": format!("{base}properties/status"), "op": "readproperty"}]}
        },
        "actions": actions,
        "events": {
            "feedback": {"data": {"type": "object"},
                "forms": [{"href": format!("{base}events/feedback"), "subprotocol": "sse", "op": "subscribeevent"}]}
        }
    })
}

struct Latency {
    mean: f64,
    p50: f64,
    p95: f64,
    results: usize,
}

async fn time_queries(http: &reqwest::Client, urls: &[String]) -> Latency {
    let mut times = Vec::with_capacity(urls.len());
    let mut results = 0;
    for url in urls {
        let start = Instant::now();
        let response = http.get(url).send().await.expect("search answers");
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        let body = response.bytes().await.expect("search body");
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        let found: Value = serde_json::from_slice(&body).expect("JSON");
        results += found.as_array().map(Vec::len).unwrap_or(0);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Latency {
        mean: times.iter().sum::<f64>() / times.len() as f64,
        p50: times[times.len() / 2],
        p95: times[(times.len() * 95 / 100).min(times.len() - 1)],
        results: results / urls.len().max(1),
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn run(store_name: &str, store: Arc<dyn DirectoryStore>, n: usize) {
    let searches: usize = std::env::var("SEARCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let jsonpath_searches: usize = std::env::var("JSONPATH_SEARCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let full_jsonpath_searches: usize = std::env::var("FULL_JSONPATH_SEARCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(jsonpath_searches)
        .max(1);
    let concurrency: usize = std::env::var("CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let directory = Directory::new(store);
    let running = directory
        .start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("start");
    let base = running.base_url().to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");

    let mut rng = Rng(42);
    let tds: Vec<Value> = (0..n).map(|i| generate(i, &mut rng)).collect();
    let titles: Vec<String> = tds
        .iter()
        .map(|td| td["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    let bodies: Vec<(String, String)> = tds
        .iter()
        .map(|td| {
            (
                td["id"].as_str().unwrap_or_default().to_owned(),
                td.to_string(),
            )
        })
        .collect();
    drop(tds);
    let bytes: usize = bodies.iter().map(|(_, b)| b.len()).sum();
    let start = Instant::now();
    futures::stream::iter(bodies)
        .map(|(id, body)| {
            let http = http.clone();
            let url = format!("{base}things/{}", encode(&id));
            async move {
                let response = http
                    .put(url)
                    .header("content-type", "application/td+json")
                    .body(body)
                    .send()
                    .await
                    .expect("PUT answers");
                assert!(response.status().is_success(), "PUT {}", response.status());
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    let elapsed = start.elapsed().as_secs_f64();
    let per_second = n as f64 / elapsed;

    let phrases = [
        "find an agent that can tell the weather",
        "book flights and hotels for a trip",
        "translate a document into French",
        "who can review my contract",
        "latest football scores",
        "geocode an address",
        "exchange rates for my invoices",
        "a recipe with chicken",
    ];
    let type_urls: Vec<String> = (0..searches)
        .map(|i| {
            format!(
                "{base}search?type={}&limit=20&offset={}",
                if i % 2 == 0 { "agent" } else { "tool" },
                (i * 37) % 200
            )
        })
        .collect();
    let text_urls: Vec<String> = (0..searches)
        .map(|i| {
            format!(
                "{base}search?q={}&limit=20",
                encode(phrases[i % phrases.len()])
            )
        })
        .collect();
    let jsonpath_urls: Vec<String> = (0..jsonpath_searches)
        .map(|i| {
            let title = &titles[(i * 7919) % n];
            format!(
                "{base}search/jsonpath?query={}",
                encode(&format!("$[?@.title=='{title}'].id"))
            )
        })
        .collect();
    // The same titles, asked with `||`: a query without a literal every selected TD must
    // contain, so it reads every TD (from the snapshot when one is kept).
    let full_urls: Vec<String> = (0..full_jsonpath_searches)
        .map(|i| {
            let one = &titles[(i * 7919) % n];
            let other = &titles[(i * 104_729 + 1) % n];
            format!(
                "{base}search/jsonpath?query={}",
                encode(&format!("$[?@.title=='{one}' || @.title=='{other}'].id"))
            )
        })
        .collect();
    // Warm-up (caches, connection pool).
    let _ = time_queries(&http, &type_urls[..2.min(type_urls.len())]).await;
    let _ = time_queries(&http, &text_urls[..2.min(text_urls.len())]).await;
    let by_type = time_queries(&http, &type_urls).await;
    let by_text = time_queries(&http, &text_urls).await;
    // A `$[?@.title=='…']` query reads only the TDs whose text has the title (no snapshot is
    // built for it).
    let by_jsonpath = time_queries(&http, &jsonpath_urls).await;
    // The first query that reads every TD builds the snapshot (at most 50 000 TDs); time it on
    // its own.
    let cold = time_queries(&http, &full_urls[..1]).await;
    let by_full = time_queries(&http, &full_urls).await;
    let zion = |n: usize| {
        if n >= 100_000 {
            (60.0, 120.0)
        } else {
            (10.0, 21.0)
        }
    };
    let (goal, zion_ms) = zion(n);
    println!(
        "| {store_name} | {n} | registration | {per_second:.0} TDs/s ({:.1} MB/s, {concurrency} writers) | | | |",
        bytes as f64 / elapsed / 1e6
    );
    record(json!({
        "name": format!("Directory registration, {n} TDs, {store_name} ({concurrency} writers, every write durable)"),
        "ours": per_second,
        "unit": "TDs/s",
    }));
    for (name, latency, goal) in [
        ("type query", &by_type, Some(goal)),
        ("text query", &by_text, Some(goal)),
        (
            "JSONPath `$[?@.title=='…']` (prefiltered)",
            &by_jsonpath,
            None,
        ),
        ("JSONPath `… || …` (every TD)", &by_full, None),
        ("JSONPath `… || …`, first after a change", &cold, None),
    ] {
        let (zion_cell, ratio) = match name {
            _ if name.starts_with("JSONPath") && !name.contains("first") => (
                format!("{zion_ms} ms"),
                format!("{:.2}x", latency.mean / zion_ms),
            ),
            _ => ("-".into(), "-".into()),
        };
        let goal_cell = goal
            .map(|g| {
                format!(
                    "≤ {g} ms: {}",
                    if latency.mean <= g { "met" } else { "not met" }
                )
            })
            .unwrap_or_default();
        println!(
            "| {store_name} | {n} | {name} | mean {:.2} ms, p50 {:.2}, p95 {:.2} ({} results) | {goal_cell} | {zion_cell} | {ratio} |",
            latency.mean, latency.p50, latency.p95, latency.results
        );
        let mut result = json!({
            "name": format!("Directory {name}, {n} TDs, {store_name} (mean, over HTTP)"),
            "ours": latency.mean,
            "unit": "ms",
            "detail": format!("p50 {:.2}, p95 {:.2}", latency.p50, latency.p95),
        });
        if let Some(goal) = goal {
            result["goal_max"] = json!(goal);
        }
        if name.starts_with("JSONPath") && !name.contains("first") {
            result["baseline"] = json!(zion_ms);
            result["baseline_name"] = json!("Zion (published)");
        }
        record(result);
    }
    running.shutdown().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000]
    } else {
        sizes
    };
    println!("| store | TDs | measure | ours | goal | Zion (published) | ours / Zion |");
    println!("|---|---|---|---|---|---|---|");
    let stores = std::env::var("STORES").unwrap_or_else(|_| "sqlite,postgres".into());
    for &n in &sizes {
        if stores.contains("sqlite") {
            let path = std::env::temp_dir().join(format!("lmos-bench-{}.db", uuid::Uuid::new_v4()));
            let store = SqliteStore::open(&path).await.expect("open SQLite");
            run("SQLite", Arc::new(store), n).await;
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(path.with_extension("db-wal"));
            let _ = std::fs::remove_file(path.with_extension("db-shm"));
        }
        if !stores.contains("postgres") {
            continue;
        }
        if let Ok(url) = std::env::var("LMOS_TEST_POSTGRES_URL") {
            let store = PostgresStore::connect(&url)
                .await
                .expect("connect PostgreSQL");
            store.clear().await.expect("clear");
            run("PostgreSQL", Arc::new(store), n).await;
        }
    }
}
