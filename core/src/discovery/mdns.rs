//! DNS-SD over multicast DNS (WoT Discovery §6.3): a servient advertises each thing as a
//! `_wot._tcp` service and a directory as `_directory._sub._wot._tcp`, with TXT records `td` (the
//! path of the TD), `type` (`Thing` or `Directory`) and `scheme` (`http`); [`Mdns::browse`] finds
//! them and fetches their TDs.
//!
//! Multicast DNS records carry addresses of the interface they are sent on, so a service bound
//! to 127.0.0.1 is only visible where the loopback interface does multicast. Bind to an interface
//! address (or 0.0.0.0, which advertises every interface's address) to be found on the network.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use serde_json::Value;

use super::DiscoveryError;
use crate::thing::{BoxStream, Servient};

/// Fully qualified DNS-SD type of things.
pub const WOT_TYPE: &str = "_wot._tcp.local.";
/// Fully qualified DNS-SD subtype of directories.
pub const DIRECTORY_TYPE: &str = "_directory._sub._wot._tcp.local.";

/// What an advertisement announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    /// A Thing (TXT `type=Thing`).
    Thing,
    /// A Thing Description Directory (TXT `type=Directory`).
    Directory,
}

impl ServiceKind {
    /// The TXT `type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Thing => "Thing",
            ServiceKind::Directory => "Directory",
        }
    }
}

/// Options of the mDNS responder and browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdnsOptions {
    /// UDP port (5353 is mDNS; another port makes a private group, e.g. for tests).
    pub port: u16,
}

impl Default for MdnsOptions {
    fn default() -> Self {
        MdnsOptions { port: 5353 }
    }
}

/// A service found by [`Mdns::browse`], with its TD fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundService {
    /// The DNS-SD instance name.
    pub instance: String,
    /// Thing or directory.
    pub kind: ServiceKind,
    /// The TD's URL (`scheme://address:port` + TXT `td`).
    pub url: String,
    /// The TD, or why it could not be fetched.
    pub td: Result<Value, String>,
}

/// An mDNS responder and browser. Advertisements end with [`shutdown`](Self::shutdown) (or
/// when the value is dropped).
pub struct Mdns {
    daemon: ServiceDaemon,
    advertised: Mutex<Vec<String>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Mdns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mdns").finish_non_exhaustive()
    }
}

fn mdns_error(error: impl std::fmt::Display) -> DiscoveryError {
    DiscoveryError::Mdns(error.to_string())
}

/// DNS labels are limited to 63 bytes; keep instance names inside that.
fn instance_label(name: &str) -> String {
    let mut label: String = name
        .chars()
        .map(|c| if c == '.' { '-' } else { c })
        .collect();
    while label.len() > 63 {
        label.pop();
    }
    if label.is_empty() {
        "thing".into()
    } else {
        label
    }
}

impl Mdns {
    /// Starts the mDNS daemon (a thread of its own).
    pub fn new(options: MdnsOptions) -> Result<Self, DiscoveryError> {
        let daemon = ServiceDaemon::new_with_port(options.port).map_err(mdns_error)?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(mdns_error)?;
        Ok(Mdns {
            daemon,
            advertised: Mutex::new(Vec::new()),
            http,
        })
    }

    /// Advertises one service: `instance` at `address` with its TD at `td_path`. An unspecified
    /// address (`0.0.0.0`) advertises the addresses of every interface.
    pub fn advertise(
        &self,
        kind: ServiceKind,
        instance: &str,
        address: SocketAddr,
        td_path: &str,
    ) -> Result<(), DiscoveryError> {
        let ty = match kind {
            ServiceKind::Thing => WOT_TYPE,
            ServiceKind::Directory => DIRECTORY_TYPE,
        };
        let path = if td_path.starts_with('/') {
            td_path.to_owned()
        } else {
            format!("/{td_path}")
        };
        let properties = [
            ("td", path.as_str()),
            ("type", kind.as_str()),
            ("scheme", "http"),
        ];
        let host = format!("lmos-{}.local.", uuid::Uuid::new_v4().simple());
        let ip = address.ip();
        let info = if ip.is_unspecified() {
            ServiceInfo::new(
                ty,
                &instance_label(instance),
                &host,
                "",
                address.port(),
                &properties[..],
            )
            .map(ServiceInfo::enable_addr_auto)
        } else {
            ServiceInfo::new(
                ty,
                &instance_label(instance),
                &host,
                ip,
                address.port(),
                &properties[..],
            )
        }
        .map_err(mdns_error)?;
        let fullname = info.get_fullname().to_owned();
        self.daemon.register(info).map_err(mdns_error)?;
        if let Ok(mut advertised) = self.advertised.lock() {
            advertised.push(fullname);
        }
        Ok(())
    }

    /// Advertises every thing a started servient hosts (instance name: its title; TD path:
    /// `/{slug}`); returns how many.
    pub fn advertise_servient(&self, servient: &Servient) -> Result<usize, DiscoveryError> {
        let address = servient
            .addresses()
            .http
            .ok_or_else(|| DiscoveryError::NotRegistrable("the servient has not started".into()))?;
        let things = servient.things();
        for thing in &things {
            self.advertise(
                ServiceKind::Thing,
                thing.title(),
                address,
                &format!(
                    "/{}",
                    crate::binding::http::forms::encode_segment(thing.slug())
                ),
            )?;
        }
        Ok(things.len())
    }

    /// Advertises a running directory (its TD is at `/`).
    pub fn advertise_directory(
        &self,
        instance: &str,
        directory: &super::RunningDirectory,
    ) -> Result<(), DiscoveryError> {
        self.advertise(ServiceKind::Directory, instance, directory.address(), "/")
    }

    /// Services of `kind` (`None`: every `_wot._tcp` service, things and directories) as they
    /// are resolved, each with its TD fetched. The stream does not end by itself.
    pub fn browse(
        &self,
        kind: Option<ServiceKind>,
    ) -> Result<BoxStream<FoundService>, DiscoveryError> {
        let ty = match kind {
            Some(ServiceKind::Directory) => DIRECTORY_TYPE,
            _ => WOT_TYPE,
        };
        let receiver = self.daemon.browse(ty).map_err(mdns_error)?;
        let http = self.http.clone();
        Ok(Box::pin(async_stream::stream! {
            let mut seen: HashSet<String> = HashSet::new();
            while let Ok(event) = receiver.recv_async().await {
                let ServiceEvent::ServiceResolved(service) = event else { continue };
                let found_kind = match service.get_property_val_str("type") {
                    Some("Directory") => ServiceKind::Directory,
                    _ => ServiceKind::Thing,
                };
                if kind.is_some_and(|k| k != found_kind) {
                    continue;
                }
                let scheme = service.get_property_val_str("scheme").unwrap_or("http");
                if !matches!(scheme, "http" | "https") {
                    continue;
                }
                let path = service.get_property_val_str("td").unwrap_or("/").to_owned();
                let mut addresses: Vec<IpAddr> = service
                    .get_addresses_v4()
                    .into_iter()
                    .map(IpAddr::V4)
                    .collect();
                addresses.sort();
                let Some(ip) = addresses.first() else { continue };
                let url = format!("{scheme}://{}{path}", SocketAddr::new(*ip, service.get_port()));
                if !seen.insert(url.clone()) {
                    continue;
                }
                let instance = service
                    .get_fullname()
                    .strip_suffix(&format!(".{}", service.ty_domain))
                    .unwrap_or(service.get_fullname())
                    .to_owned();
                let td = fetch(&http, &url).await;
                yield FoundService { instance, kind: found_kind, url, td };
            }
        }))
    }

    /// What [`browse`](Self::browse) finds within `window`.
    pub async fn browse_for(
        &self,
        kind: Option<ServiceKind>,
        window: Duration,
    ) -> Result<Vec<FoundService>, DiscoveryError> {
        use futures::StreamExt;
        let mut stream = self.browse(kind)?;
        let mut found = Vec::new();
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Some(service)) = tokio::time::timeout_at(deadline, stream.next()).await {
            found.push(service);
        }
        Ok(found)
    }

    /// Withdraws every advertisement (goodbye packets) and stops the daemon.
    pub async fn shutdown(&self) {
        let names = self
            .advertised
            .lock()
            .map(|mut names| std::mem::take(&mut *names))
            .unwrap_or_default();
        for name in names {
            if let Ok(receiver) = self.daemon.unregister(&name) {
                let _ = tokio::time::timeout(Duration::from_secs(2), receiver.recv_async()).await;
            }
        }
        if let Ok(receiver) = self.daemon.shutdown() {
            let _ = tokio::time::timeout(Duration::from_secs(2), receiver.recv_async()).await;
        }
    }
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let response = http
        .get(url)
        .header(
            reqwest::header::ACCEPT,
            "application/td+json, application/json;q=0.9",
        )
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| format!("{url} is not JSON: {e}"))
}
