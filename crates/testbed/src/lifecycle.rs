//! How a testbed process learns that it should stop: SIGTERM or SIGINT, or (for children of the
//! stack) the disappearance of the parent process, noticed by polling `getppid()`.

use std::time::Duration;

use nix::unistd::getppid;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// How often a child checks that its parent is still there.
const PARENT_POLL: Duration = Duration::from_millis(200);

/// Cancel `token` on the first SIGTERM or SIGINT.
pub fn cancel_on_signals(token: CancellationToken) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        token.cancel();
    });
    Ok(())
}

/// Cancel `token` when this process's parent exits (the process is re-parented).
pub fn cancel_when_orphaned(token: CancellationToken) {
    let parent = getppid();
    tokio::spawn(async move {
        loop {
            let now = getppid();
            if now != parent || now.as_raw() == 1 {
                tracing::warn!("the parent process is gone; stopping");
                token.cancel();
                return;
            }
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep(PARENT_POLL) => {}
            }
        }
    });
}
