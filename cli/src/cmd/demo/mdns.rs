//! Finding the demo's services through mDNS / DNS-SD (WoT Discovery's `_wot._tcp`).
//!
//! Each service's servient is advertised by an [`Advertisement`]; [`find`] browses with a
//! second, independent mDNS daemon (as another process on the network would) until it has
//! resolved every service and fetched its TD from the address the mDNS records carry. The demo
//! itself uses a private UDP port for the mDNS group, so that its short-lived services never
//! reach the mDNS responders of the network; `lmos demo serve` advertises on 5353 (or
//! `--mdns-port`), where `lmos discover --mdns` finds them.

use futures::StreamExt;
use lmos::discovery::{Mdns, MdnsOptions, ServiceKind};

use super::network::Service;

/// What looking for the services by mDNS found.
pub enum MdnsOutcome {
    /// Every service was found; one line per service.
    Found(String),
    /// mDNS cannot reach the services on this host; the reason.
    NotAvailable(String),
}

/// The services' advertisement on one mDNS port; withdrawn by [`stop`](Self::stop).
pub struct Advertisement {
    daemon: Mdns,
}

impl Advertisement {
    /// Advertises every thing of each service's servient on UDP port `port`.
    pub fn start(port: u16, services: &[&Service]) -> Result<Self, String> {
        let daemon = Mdns::new(MdnsOptions { port })
            .map_err(|e| format!("cannot start mDNS on UDP port {port}: {e}"))?;
        for service in services {
            daemon
                .advertise_servient(service.servient())
                .map_err(|e| format!("cannot advertise {}: {e}", service.title()))?;
        }
        Ok(Advertisement { daemon })
    }

    /// Sends goodbye packets and stops the daemon.
    pub async fn stop(&self) {
        self.daemon.shutdown().await;
    }
}

/// A UDP port no one else uses for the demo's private mDNS group.
fn private_port() -> Result<u16, String> {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| socket.local_addr())
        .map(|address| address.port())
        .map_err(|e| format!("cannot pick a UDP port: {e}"))
}

/// Advertises `services` on a private mDNS port and browses for them with a second daemon;
/// `reachable` says whether the services listen where mDNS records can point (see
/// `network::service_host`). The advertisement is withdrawn before this returns.
pub async fn find(services: &[&Service], reachable: bool) -> Result<MdnsOutcome, String> {
    if !reachable {
        return Ok(MdnsOutcome::NotAvailable(
            "not available: the services listen on 127.0.0.1 (--loopback, or no multicast \
             route off loopback on this host), and mDNS records cannot point there"
                .to_owned(),
        ));
    }
    let port = private_port()?;
    let advertisement = Advertisement::start(port, services)?;
    let found = browse(port, services).await;
    advertisement.stop().await;
    found.map(MdnsOutcome::Found)
}

async fn browse(port: u16, services: &[&Service]) -> Result<String, String> {
    let browser = Mdns::new(MdnsOptions { port })
        .map_err(|e| format!("cannot start an mDNS browser on UDP port {port}: {e}"))?;
    let result = async {
        let mut stream = browser
            .browse(Some(ServiceKind::Thing))
            .map_err(|e| format!("cannot browse _wot._tcp: {e}"))?;
        let mut lines: Vec<Option<String>> = vec![None; services.len()];
        while lines.iter().any(Option::is_none) {
            let Some(found) = stream.next().await else {
                return Err("the mDNS browse ended".to_owned());
            };
            let Some(index) = services.iter().position(|s| s.td_url == found.url) else {
                continue; // another thing advertised on the same port
            };
            let td = found
                .td
                .map_err(|e| format!("{} was found but its TD not fetched: {e}", found.url))?;
            let expected = services[index].exposed.thing_description().id;
            if td["id"].as_str() != expected.as_deref() {
                return Err(format!(
                    "the TD at {} has id {} where {expected:?} was advertised",
                    found.url, td["id"]
                ));
            }
            lines[index] = Some(format!(
                "{:<12} _wot._tcp instance \"{}\" → {} (id {})",
                services[index].title(),
                found.instance,
                found.url,
                td["id"].as_str().unwrap_or_default()
            ));
        }
        let mut detail: Vec<String> = lines.into_iter().flatten().collect();
        detail.push(format!("(private mDNS group on UDP port {port})"));
        Ok(detail.join("\n"))
    }
    .await;
    browser.shutdown().await;
    result
}
