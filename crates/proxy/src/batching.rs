//! Fewer wake-ups for a bulk flow: while a flow is spliced (no toxic acts on it) and its bytes
//! arrive faster than they are forwarded, its source socket gets a receive low-water mark
//! (`SO_RCVLOWAT`), so the kernel wakes the proxy once per batch of bytes instead of once per
//! segment.
//!
//! Each wake-up of the proxy costs a cross-CPU interrupt and a context switch, and on a small
//! (virtual) machine that costs as much as moving the bytes: batching them is what keeps a
//! proxied transfer close to a direct one (`bench/proxy.sh`). A low-water mark alone would hold
//! the tail of a burst (fewer bytes than the mark, with no end of stream after them) forever, so
//! the batching stops as soon as the flow has been idle for [`IDLE`]: lowering the mark makes the
//! kernel report the waiting bytes at once. The tail of a burst therefore waits at most about
//! that long (tokio's timers tick in milliseconds); small exchanges never batch, because a flow
//! is only spliced after it has proved to be a bulk flow.

use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

/// The low-water mark of a batching source: enough bytes to amortise a wake-up, well under the
/// receive buffer (the kernel still wakes the proxy early if the buffer runs short).
const LOWAT: usize = 128 * 1024;

/// A splice at least this large shows that bytes pile up in the source: batching starts.
const PILED_UP: usize = 64 * 1024;

/// How long a batching flow may be idle before the batching stops.
pub(crate) const IDLE: Duration = Duration::from_millis(1);

/// Whether a flow's source has a low-water mark set, and how large a mark it gets.
#[derive(Debug)]
pub(crate) struct Batching {
    on: bool,
    lowat: usize,
    failed: bool,
}

impl Batching {
    /// Batching for a source whose receive buffer was fixed at `socket_buffer` bytes (the mark
    /// stays at most half of it), or was left to the kernel's autotuning (`None`).
    pub(crate) fn new(socket_buffer: Option<usize>) -> Batching {
        let lowat = socket_buffer.map_or(LOWAT, |b| LOWAT.min(b / 2));
        Batching {
            on: false,
            lowat,
            failed: lowat <= 1,
        }
    }

    /// After a splice from `from` moved `moved` bytes: start batching if they piled up.
    pub(crate) fn spliced(&mut self, from: &TcpStream, moved: usize) {
        if !self.on && !self.failed && moved >= PILED_UP {
            self.set(from, true);
        }
    }

    /// When the batching must stop if nothing happens before: `None` when it is off.
    pub(crate) fn deadline(&self, now: Instant) -> Option<Instant> {
        self.on.then(|| now + IDLE)
    }

    /// Stop batching (the flow went idle, a toxic now acts on it, or the flow ends): the kernel
    /// reports every waiting byte again.
    pub(crate) fn stop(&mut self, from: &TcpStream) {
        if self.on {
            self.set(from, false);
        }
    }

    fn set(&mut self, from: &TcpStream, on: bool) {
        let mark = if on { self.lowat } else { 1 };
        match set_rcvlowat(from.as_fd(), mark) {
            Ok(()) => self.on = on,
            Err(_) => {
                // Not supported here: forward without batching from now on.
                self.failed = true;
                self.on = false;
            }
        }
    }
}

/// Set `SO_RCVLOWAT` on `fd` (neither `nix` nor `socket2` offers this option).
#[allow(unsafe_code)]
fn set_rcvlowat(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    use nix::libc;
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
        .expect("the size of a C int fits a socklen_t");
    // SAFETY: `fd` is a socket that stays open for the borrow; the option value points at a live
    // `c_int` on this stack frame and `len` is its exact size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&raw const value).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_stays_under_half_a_fixed_buffer() {
        assert_eq!(Batching::new(None).lowat, LOWAT);
        assert_eq!(Batching::new(Some(1024 * 1024)).lowat, LOWAT);
        assert_eq!(Batching::new(Some(64 * 1024)).lowat, 32 * 1024);
        assert!(Batching::new(Some(1)).failed);
    }

    /// A burst's tail smaller than the mark is not stranded: stopping the batching makes the
    /// socket readable at once.
    #[tokio::test]
    async fn stopping_releases_a_tail_under_the_mark() {
        use tokio::io::AsyncWriteExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut sender = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (receiver, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 8];
        // A new tokio socket counts as readable until a read finds nothing.
        let nothing = receiver.try_read(&mut buf).expect_err("nothing sent yet");
        assert_eq!(nothing.kind(), io::ErrorKind::WouldBlock);
        let mut batching = Batching::new(None);
        batching.spliced(&receiver, PILED_UP);
        assert!(batching.on, "a piled-up splice starts batching");
        sender.write_all(b"tail").await.expect("write");
        let early = tokio::time::timeout(Duration::from_millis(100), receiver.readable()).await;
        assert!(early.is_err(), "4 bytes are under the mark: no wake-up");
        batching.stop(&receiver);
        assert!(!batching.on);
        tokio::time::timeout(Duration::from_secs(5), receiver.readable())
            .await
            .expect("readable once the batching stops")
            .expect("readable");
        assert_eq!(receiver.try_read(&mut buf).expect("read"), 4);
    }
}
