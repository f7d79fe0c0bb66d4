//! The accept loop: it accepts clients while the proxy is up, and closes or reopens its listener
//! when a `down` toxic comes or goes, so that connects are refused (not hung) while it is down.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::connection::{ConnGuard, serve};
use super::shared::Shared;

/// Pause before retrying a failed accept or rebind.
const RETRY: Duration = Duration::from_millis(50);

/// Accept until the proxy shuts down.
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut rx = shared.toxics.subscribe();
    let mut listener = Some(listener);
    loop {
        let set = rx.borrow_and_update().clone();
        let down = set.down().is_some();
        let mut retry = false;
        if down {
            // Dropping the listener closes it: the kernel refuses new connects from now on.
            listener = None;
        } else if listener.is_none() {
            match TcpListener::bind(shared.addr).await {
                Ok(bound) => listener = Some(bound),
                Err(err) => {
                    tracing::warn!(proxy = %shared.name, addr = %shared.addr, %err, "cannot listen again");
                    retry = true;
                }
            }
        }
        if !retry {
            shared.registry.ack_listener(set.version);
        }
        tokio::select! {
            biased;
            () = shared.cancel.cancelled() => return,
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep(RETRY), if retry => {}
            accepted = accept(listener.as_ref()), if listener.is_some() => match accepted {
                Ok(client) => {
                    let guard = ConnGuard::accepted(shared.clone());
                    let id = shared.next_conn_id();
                    tokio::spawn(serve(guard, client, id));
                }
                // Out of descriptors, or a client gone before accept: wait a little, go on.
                Err(_) => tokio::time::sleep(RETRY).await,
            },
        }
    }
}

async fn accept(listener: Option<&TcpListener>) -> std::io::Result<tokio::net::TcpStream> {
    match listener {
        Some(listener) => listener.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}
