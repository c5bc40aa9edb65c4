//! [`DirectoryRegistration`]: keeps a TD registered in a directory — refreshes it before its
//! time-to-live runs out, registers it again when the directory lost it (restart on a fresh store,
//! expiry while the directory was unreachable), deletes it on [`deregister`](DirectoryRegistration::deregister).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{DirectoryClient, DirectoryError, DiscoveryError};

/// Where the current TD comes from (it may change while registered, e.g. a new base URL).
pub type TdSource = Arc<dyn Fn() -> Value + Send + Sync>;

/// The runtime the latest registration started on: deletions requested from outside a runtime
/// (e.g. [`Servient::destroy`](crate::thing::Servient::destroy) called from a binding's thread)
/// run there.
static RUNTIME: Mutex<Option<tokio::runtime::Handle>> = Mutex::new(None);

/// Runs `deletion` (deleting directory entries) in the background: on the current runtime, else
/// on the one the latest registration started on. Without either no registration was ever made,
/// so there is nothing to delete.
pub(crate) fn spawn_deletion(deletion: impl std::future::Future<Output = ()> + Send + 'static) {
    let handle = tokio::runtime::Handle::try_current().ok().or_else(|| {
        RUNTIME
            .lock()
            .ok()
            .and_then(|runtime| runtime.as_ref().cloned())
    });
    if let Some(handle) = handle {
        handle.spawn(deletion);
    }
}

struct Inner {
    id: String,
    client: DirectoryClient,
    ttl: Duration,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A live directory entry; clones share it. Dropping every clone does not delete the entry
/// (it expires after its time-to-live); call [`deregister`](Self::deregister) to delete it now.
#[derive(Clone)]
pub struct DirectoryRegistration {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DirectoryRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryRegistration")
            .field("id", &self.inner.id)
            .field("directory", &self.inner.client.base_url().as_str())
            .field("ttl", &self.inner.ttl)
            .finish()
    }
}

/// How long to wait between refreshes of an entry living `ttl`.
fn refresh_interval(ttl: Duration) -> Duration {
    (ttl / 2).max(Duration::from_millis(500))
}

impl DirectoryRegistration {
    /// Registers the TD from `source` in the directory with `ttl` and keeps it registered.
    pub async fn start(
        client: DirectoryClient,
        source: TdSource,
        ttl: Duration,
    ) -> Result<Self, DiscoveryError> {
        if ttl < Duration::from_secs(1) {
            return Err(DiscoveryError::NotRegistrable(
                "the time-to-live must be at least one second".into(),
            ));
        }
        if let Ok(mut runtime) = RUNTIME.lock() {
            *runtime = tokio::runtime::Handle::try_current().ok();
        }
        let td = source();
        let id = client.register(&td, Some(ttl)).await?;
        let (stop, mut stopped) = watch::channel(false);
        let task_client = client.clone();
        let task_id = id.clone();
        let task = tokio::spawn(async move {
            let interval = refresh_interval(ttl);
            let retry = (ttl / 8).clamp(Duration::from_millis(200), Duration::from_secs(5));
            let mut wait = interval;
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = stopped.wait_for(|stop| *stop) => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                let mut td = source();
                if let Some(map) = td.as_object_mut() {
                    if !map.contains_key("id") {
                        map.insert("id".into(), Value::String(task_id.clone()));
                    }
                }
                // PUT creates the entry again if the directory lost it.
                wait = match task_client.put(&task_id, &td, Some(ttl)).await {
                    Ok(_) => {
                        if failing {
                            eprintln!(
                                "lmos: the directory entry {task_id} at {} is refreshed again",
                                task_client.base_url()
                            );
                        }
                        failing = false;
                        interval
                    }
                    Err(error) => {
                        // Told once per outage, not on every retry.
                        if !failing {
                            eprintln!(
                                "lmos: refreshing the directory entry {task_id} at {} failed \
                                 (retrying every {retry:?}): {error}",
                                task_client.base_url()
                            );
                        }
                        failing = true;
                        retry
                    }
                };
            }
        });
        Ok(DirectoryRegistration {
            inner: Arc::new(Inner {
                id,
                client,
                ttl,
                stop,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    /// The id the TD is registered under.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The directory.
    pub fn directory(&self) -> &DirectoryClient {
        &self.inner.client
    }

    /// Whether the entry is still kept alive.
    pub fn is_active(&self) -> bool {
        !*self.inner.stop.borrow()
    }

    /// Stops refreshing and deletes the entry (an entry already gone is not an error).
    pub async fn deregister(&self) -> Result<(), DiscoveryError> {
        if self.inner.stop.send_replace(true) {
            return Ok(());
        }
        let task = self.inner.task.lock().ok().and_then(|mut task| task.take());
        if let Some(task) = task {
            let _ = task.await;
        }
        match self.inner.client.delete(&self.inner.id).await {
            Ok(()) | Err(DirectoryError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut task) = self.task.lock() {
            if let Some(task) = task.take() {
                task.abort();
            }
        }
    }
}
