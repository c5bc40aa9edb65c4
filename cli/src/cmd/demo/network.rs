//! The demo network: an embedded directory (SQLite in a temporary folder, on 127.0.0.1) and two
//! services — the weather agent and the geocoding tool — each on its own HTTP and WebSocket
//! ports, each signing its Thing Description with its own `did:key`. The services listen on the
//! address multicast leaves from, so that mDNS can find them ([`service_host`]), or on 127.0.0.1
//! with `--loopback`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lmos::discovery::registration::TdSource;
use lmos::discovery::{
    Directory, DirectoryClient, DirectoryRegistration, RunningDirectory, SqliteStore,
};
use lmos::identity::data_integrity::{sign_document, ProofOptions};
use lmos::identity::Ed25519KeyPair;
use lmos::td::Thing;
use lmos::thing::{BoundAddresses, ExposedThing, Servient, ThingError};
use serde_json::Value;

/// Where the directory binds (it is found through its URL, never by mDNS).
pub const HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Where the services bind: the local address multicast leaves from (the interface the route to
/// the mDNS group 224.0.0.251 uses; no packet is sent), so that mDNS records can carry it; or
/// 127.0.0.1 when `loopback` is asked for or the host has no multicast route off loopback.
/// The second value says whether mDNS can reach the services.
pub fn service_host(loopback: bool) -> (IpAddr, bool) {
    if loopback {
        return (HOST, false);
    }
    let found = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| {
            socket.connect("224.0.0.251:5353")?;
            socket.local_addr()
        })
        .map(|address| address.ip());
    match found {
        Ok(ip) if !ip.is_unspecified() && !ip.is_loopback() => (ip, true),
        _ => (HOST, false),
    }
}

/// How long a directory entry lives unless refreshed (the registration refreshes it halfway).
pub const REGISTRATION_TTL: Duration = Duration::from_secs(60);

/// Milliseconds the weather agent's `forecast` spends on each day.
pub const FORECAST_STEP: Duration = Duration::from_millis(100);

/// A folder under the system's temporary directory, removed with everything in it on drop.
#[derive(Debug)]
pub struct TempFolder {
    path: PathBuf,
}

impl TempFolder {
    /// Creates `lmos-demo-<uuid>` under the temporary directory.
    pub fn create() -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("lmos-demo-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&path)
            .map_err(|e| format!("cannot create the folder {}: {e}", path.display()))?;
        Ok(TempFolder { path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The directory, serving an SQLite store.
pub struct EmbeddedDirectory {
    running: RunningDirectory,
    /// The SQLite file.
    pub db_path: PathBuf,
    /// A client of the directory.
    pub client: DirectoryClient,
}

impl EmbeddedDirectory {
    /// Opens `directory.db` in `folder` and serves it on an ephemeral port.
    pub async fn start(folder: &Path) -> Result<Self, String> {
        let db_path = folder.join("directory.db");
        let store = SqliteStore::open(&db_path)
            .await
            .map_err(|e| format!("cannot open {}: {e}", db_path.display()))?;
        let running = Directory::new(Arc::new(store))
            .start(SocketAddr::new(HOST, 0))
            .await
            .map_err(|e| format!("cannot start the directory: {e}"))?;
        let client = DirectoryClient::new(running.base_url()).map_err(|e| e.to_string())?;
        Ok(EmbeddedDirectory {
            running,
            db_path,
            client,
        })
    }

    /// The directory's base URL.
    pub fn base_url(&self) -> &str {
        self.running.base_url()
    }

    /// Stops serving.
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

/// One service (agent or tool) on its own servient.
pub struct Service {
    /// The key its TDs are signed with; its DID is a `did:key`.
    pub key: Ed25519KeyPair,
    servient: Servient,
    /// The exposed thing.
    pub exposed: ExposedThing,
    /// Where it listens.
    pub addresses: BoundAddresses,
    /// The URL of its (signed) TD.
    pub td_url: String,
    registration: Option<DirectoryRegistration>,
}

impl Service {
    /// Exposes `thing` on a servient listening on ephemeral HTTP and WebSocket ports that
    /// signs every TD it serves with `key`; `setup` registers the handlers.
    pub async fn start(
        thing: Thing,
        key: Ed25519KeyPair,
        host: IpAddr,
        setup: impl FnOnce(&ExposedThing) -> Result<(), ThingError>,
    ) -> Result<Self, String> {
        let title = thing.title.clone();
        let started = async {
            let servient = Servient::builder()
                .http_host(host)
                .http_port(0)
                .ws_port(0)
                .sign_descriptions(key.clone())
                .build()?;
            let exposed = servient.expose(thing)?;
            setup(&exposed)?;
            let addresses = servient.start().await?;
            Ok::<_, ThingError>((servient, exposed, addresses))
        };
        let (servient, exposed, addresses) = started
            .await
            .map_err(|e| format!("cannot start {title}: {e}"))?;
        let Some(td_url) = exposed.td_url() else {
            servient.shutdown().await;
            return Err(format!("{title} has no TD URL after starting"));
        };
        Ok(Service {
            key,
            servient,
            exposed,
            addresses,
            td_url,
            registration: None,
        })
    }

    /// Its servient (started).
    pub fn servient(&self) -> &Servient {
        &self.servient
    }

    /// The service's title.
    pub fn title(&self) -> &str {
        self.exposed.title()
    }

    /// Its current TD, signed with its key (the same document its servient serves).
    pub fn signed_description(&self) -> Result<Value, String> {
        sign(&self.exposed, &self.key)
    }

    /// Registers the signed TD in the directory and keeps it registered; returns the entry's id.
    pub async fn register(&mut self, directory: &DirectoryClient) -> Result<String, String> {
        // Registered signed, so that whoever finds it in the directory can check who
        // published it (the directory adds only its `registration` member).
        self.signed_description()?;
        let exposed = self.exposed.clone();
        let key = self.key.clone();
        let source: TdSource = Arc::new(move || {
            sign(&exposed, &key).unwrap_or_else(|_| exposed.thing_description().to_value())
        });
        let registration =
            DirectoryRegistration::start(directory.clone(), source, REGISTRATION_TTL)
                .await
                .map_err(|e| format!("cannot register {}: {e}", self.title()))?;
        let id = registration.id().to_owned();
        self.registration = Some(registration);
        Ok(id)
    }

    /// Deletes its directory entry (if registered) and stops its servient.
    pub async fn stop(self) -> Result<(), String> {
        let deregistered = match &self.registration {
            Some(registration) => registration
                .deregister()
                .await
                .map_err(|e| format!("cannot deregister {}: {e}", self.title())),
            None => Ok(()),
        };
        self.servient.shutdown().await;
        deregistered
    }
}

fn sign(exposed: &ExposedThing, key: &Ed25519KeyPair) -> Result<Value, String> {
    sign_document(
        &exposed.thing_description().to_value(),
        key,
        &ProofOptions::default(),
    )
    .map_err(|e| format!("cannot sign the TD of {}: {e}", exposed.title()))
}

/// The whole network, as `lmos demo serve` runs it.
pub struct Network {
    /// The directory.
    pub directory: EmbeddedDirectory,
    /// The weather agent.
    pub weather: Service,
    /// The geocoding tool.
    pub geocoder: Service,
    /// The mDNS advertisement of both services, when mDNS can reach them.
    pub mdns: Option<super::mdns::Advertisement>,
    /// The folder holding the SQLite file; removed after everything stopped.
    folder: TempFolder,
}

/// Generates a fresh `did:key` identity.
pub fn new_key() -> Result<Ed25519KeyPair, String> {
    Ed25519KeyPair::generate().map_err(|e| format!("cannot generate a key: {e}"))
}

/// Starts the weather agent, listening on `host`.
pub async fn start_weather(key: Ed25519KeyPair, host: IpAddr) -> Result<Service, String> {
    Service::start(super::weather::description(), key, host, |exposed| {
        super::weather::serve(exposed, FORECAST_STEP)
    })
    .await
}

/// Starts the geocoding tool, listening on `host`.
pub async fn start_geocoder(key: Ed25519KeyPair, host: IpAddr) -> Result<Service, String> {
    Service::start(
        super::geocoder::description(),
        key,
        host,
        super::geocoder::serve,
    )
    .await
}

impl Network {
    /// Starts the directory and both services (on [`service_host`]), registers the services
    /// and, when mDNS can reach them, advertises them on UDP port `mdns_port`.
    pub async fn start(loopback: bool, mdns_port: u16) -> Result<Self, String> {
        let (host, reachable) = service_host(loopback);
        let folder = TempFolder::create()?;
        let directory = EmbeddedDirectory::start(folder.path()).await?;
        let weather = match start_weather(new_key()?, host).await {
            Ok(service) => service,
            Err(e) => {
                directory.shutdown().await;
                return Err(e);
            }
        };
        let geocoder = match start_geocoder(new_key()?, host).await {
            Ok(service) => service,
            Err(e) => {
                let _ = weather.stop().await;
                directory.shutdown().await;
                return Err(e);
            }
        };
        let mut network = Network {
            directory,
            weather,
            geocoder,
            mdns: None,
            folder,
        };
        let client = network.directory.client.clone();
        let registered = match network.weather.register(&client).await {
            Ok(_) => network.geocoder.register(&client).await.map(|_| ()),
            Err(e) => Err(e),
        };
        let advertised = match registered {
            Ok(()) if reachable => {
                super::mdns::Advertisement::start(mdns_port, &[&network.weather, &network.geocoder])
                    .map(Some)
            }
            Ok(()) => Ok(None),
            Err(e) => Err(e),
        };
        match advertised {
            Ok(mdns) => network.mdns = mdns,
            Err(e) => {
                let _ = network.stop().await;
                return Err(e);
            }
        }
        Ok(network)
    }

    /// Withdraws the mDNS advertisement, deregisters and stops both services, then the
    /// directory, and removes the folder.
    pub async fn stop(self) -> Result<(), String> {
        if let Some(mdns) = &self.mdns {
            mdns.stop().await;
        }
        let weather = self.weather.stop().await;
        let geocoder = self.geocoder.stop().await;
        self.directory.shutdown().await;
        drop(self.folder);
        weather.and(geocoder)
    }
}
