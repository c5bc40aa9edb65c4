//! DNS-SD over real multicast: one mDNS daemon advertises a servient's thing and a directory,
//! another browses and fetches their TDs. Runs on a private mDNS port (not 5353) so it neither
//! disturbs nor hears other responders, over the interface the host routes multicast through.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lmos::discovery::{Directory, Mdns, MdnsOptions, ServiceKind, SqliteStore};
use lmos::td::ThingBuilder;
use lmos::thing::Servient;

/// The local address multicast leaves from (the interface of the route to 224.0.0.251).
fn multicast_address() -> IpAddr {
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket
        .connect("224.0.0.251:5353")
        .expect("this host has a route for multicast (needed for the mDNS test)");
    let ip = socket.local_addr().unwrap().ip();
    assert!(
        !ip.is_unspecified() && !ip.is_loopback(),
        "no multicast-capable interface: {ip}"
    );
    ip
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advertised_things_and_directories_are_browsed_with_their_tds() {
    let ip = multicast_address();
    let options = MdnsOptions {
        port: free_udp_port(),
    };

    let servient = Servient::builder()
        .http_host(ip)
        .http_port(0)
        .build()
        .unwrap();
    servient
        .expose(
            ThingBuilder::agent("Weather Agent")
                .id("urn:example:mdns-weather")
                .build(),
        )
        .unwrap();
    servient.start().await.unwrap();
    let db = std::env::temp_dir().join(format!("lmos-mdns-{}.db", uuid::Uuid::new_v4()));
    let directory = Directory::new(Arc::new(SqliteStore::open(&db).await.unwrap()))
        .start(SocketAddr::new(ip, 0))
        .await
        .unwrap();

    let advertiser = Mdns::new(options.clone()).unwrap();
    assert_eq!(advertiser.advertise_servient(&servient).unwrap(), 1);
    advertiser
        .advertise_directory("LMOS Directory", &directory)
        .unwrap();

    let browser = Mdns::new(options).unwrap();
    let mut all = browser.browse(None).unwrap();
    let mut thing = None;
    let mut dir = None;
    while thing.is_none() || dir.is_none() {
        let found = tokio::time::timeout(Duration::from_secs(60), all.next())
            .await
            .expect("the advertisements are found")
            .unwrap();
        match found.kind {
            ServiceKind::Thing => thing = Some(found),
            ServiceKind::Directory => dir = Some(found),
        }
    }
    let thing = thing.unwrap();
    assert_eq!(thing.instance, "Weather Agent");
    let port = servient.addresses().http.unwrap().port();
    assert_eq!(thing.url, format!("http://{ip}:{port}/weather-agent"));
    let td = thing.td.as_ref().unwrap();
    assert_eq!(td["id"], "urn:example:mdns-weather");
    assert_eq!(td["@type"], "lmos:Agent");

    let dir = dir.unwrap();
    assert_eq!(dir.url, format!("{}", directory.base_url()));
    assert_eq!(dir.td.as_ref().unwrap()["@type"], "ThingDirectory");

    // Browsing the directory subtype finds only directories.
    let mut directories = browser.browse(Some(ServiceKind::Directory)).unwrap();
    let found = tokio::time::timeout(Duration::from_secs(60), directories.next())
        .await
        .expect("the directory is found by its subtype")
        .unwrap();
    assert_eq!(found.kind, ServiceKind::Directory);

    advertiser.shutdown().await;
    browser.shutdown().await;
    servient.shutdown().await;
    directory.shutdown().await;
}
