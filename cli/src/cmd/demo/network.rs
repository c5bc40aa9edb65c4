//! The demo network: an embedded directory (SQLite in a temporary folder) and two services —
//! the weather agent and the geocoding tool — each on its own HTTP and WebSocket ports on
//! 127.0.0.1, each signing its Thing Description with its own `did:key`.

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

/// Where every demo listener binds.
pub const HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

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
        setup: impl FnOnce(&ExposedThing) -> Result<(), ThingError>,
    ) -> Result<Self, String> {
        let title = thing.title.clone();
        let started = async {
            let servient = Servient::builder()
                .http_host(HOST)
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
    /// The folder holding the SQLite file; removed after everything stopped.
    folder: TempFolder,
}

/// Generates a fresh `did:key` identity.
pub fn new_key() -> Result<Ed25519KeyPair, String> {
    Ed25519KeyPair::generate().map_err(|e| format!("cannot generate a key: {e}"))
}

/// Starts the weather agent.
pub async fn start_weather(key: Ed25519KeyPair) -> Result<Service, String> {
    Service::start(super::weather::description(), key, |exposed| {
        super::weather::serve(exposed, FORECAST_STEP)
    })
    .await
}

/// Starts the geocoding tool.
pub async fn start_geocoder(key: Ed25519KeyPair) -> Result<Service, String> {
    Service::start(super::geocoder::description(), key, super::geocoder::serve).await
}

impl Network {
    /// Starts the directory and both services and registers the services.
    pub async fn start() -> Result<Self, String> {
        let folder = TempFolder::create()?;
        let directory = EmbeddedDirectory::start(folder.path()).await?;
        let weather = match start_weather(new_key()?).await {
            Ok(service) => service,
            Err(e) => {
                directory.shutdown().await;
                return Err(e);
            }
        };
        let geocoder = match start_geocoder(new_key()?).await {
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
            folder,
        };
        let client = network.directory.client.clone();
        let registered = match network.weather.register(&client).await {
            Ok(_) => network.geocoder.register(&client).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = registered {
            let _ = network.stop().await;
            return Err(e);
        }
        Ok(network)
    }

    /// Deregisters and stops both services, then the directory, and removes the folder.
    pub async fn stop(self) -> Result<(), String> {
        let weather = self.weather.stop().await;
        let geocoder = self.geocoder.stop().await;
        self.directory.shutdown().await;
        drop(self.folder);
        weather.and(geocoder)
    }
}
