//! Zero-copy forwarding (Linux): `splice(2)` moves bytes from one socket into a pipe and from the
//! pipe into the other socket without copying them through user space.
//!
//! A flow with no toxic acting on it uses this once it has proved to be a bulk flow; that is what
//! keeps a proxied transfer close to the speed of a direct one. A [`SpliceRelay`] has two pipes:
//! one fills while the other drains, so reading and writing overlap. A pipe is only filled when it
//! is empty, so a splice from the socket never stalls on a full pipe (which would clear the
//! socket's readiness wrongly), and pipes drain in the order they were filled; all of them drain
//! before the flow switches back to the buffered path, so bytes keep their order.

use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// The pipe size asked for; the kernel may grant less.
const PIPE_SIZE: i32 = 1024 * 1024;

/// Two pipes between two sockets: the front one drains while the back one fills.
#[derive(Debug)]
pub(crate) struct SpliceRelay {
    pipes: [SplicePipe; 2],
    front: usize,
}

impl SpliceRelay {
    /// Two new pipes.
    pub(crate) fn new() -> io::Result<SpliceRelay> {
        Ok(SpliceRelay {
            pipes: [SplicePipe::new()?, SplicePipe::new()?],
            front: 0,
        })
    }

    /// Bytes held in both pipes.
    pub(crate) fn held(&self) -> usize {
        self.pipes[0].held + self.pipes[1].held
    }

    /// The pipe to drain and the pipe to fill. Call [`SpliceRelay::rotate`] after using them.
    pub(crate) fn split(&mut self) -> (&mut SplicePipe, &mut SplicePipe) {
        let [a, b] = &mut self.pipes;
        if self.front == 0 { (a, b) } else { (b, a) }
    }

    /// Keep the invariant: the front pipe is empty only if both are.
    pub(crate) fn rotate(&mut self) {
        if self.pipes[self.front].held == 0 {
            self.front = 1 - self.front;
        }
        if self.pipes[self.front].held == 0 {
            self.front = 1 - self.front;
        }
    }
}

/// A pipe between two sockets, and how many bytes it holds.
#[derive(Debug)]
pub(crate) struct SplicePipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
    held: usize,
}

impl SplicePipe {
    /// A new non-blocking pipe, as large as the kernel allows (up to 1 MiB).
    pub(crate) fn new() -> io::Result<SplicePipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        let capacity = fcntl(write.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(PIPE_SIZE))
            .or_else(|_| fcntl(write.as_raw_fd(), FcntlArg::F_GETPIPE_SZ))
            .ok()
            .and_then(|size| usize::try_from(size).ok())
            .unwrap_or(64 * 1024);
        Ok(SplicePipe {
            read,
            write,
            capacity,
            held: 0,
        })
    }

    /// Whether the pipe holds nothing (only then may it be filled).
    pub(crate) fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Move what `from` has (up to `max` bytes and the pipe's size) into the pipe, which must be
    /// empty. `Ok(0)` is end of stream. Cancel-safe: the splice itself never waits.
    pub(crate) async fn fill(&mut self, from: &TcpStream, max: usize) -> io::Result<usize> {
        let len = self.capacity.min(max).max(1);
        if !self.is_empty() {
            return Err(io::Error::other("splice into a pipe that is not empty"));
        }
        loop {
            from.readable().await?;
            let moved = from.try_io(Interest::READABLE, || {
                splice(
                    from.as_fd(),
                    None,
                    self.write.as_fd(),
                    None,
                    len,
                    SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK,
                )
                .map_err(io::Error::from)
            });
            match moved {
                Ok(n) => {
                    self.held += n;
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Err(err),
            }
        }
    }

    /// Write some of the pipe's bytes to `to`; returns how many. Cancel-safe.
    pub(crate) async fn drain(&mut self, to: &TcpStream) -> io::Result<usize> {
        loop {
            to.writable().await?;
            let moved = to.try_io(Interest::WRITABLE, || {
                splice(
                    self.read.as_fd(),
                    None,
                    to.as_fd(),
                    None,
                    self.held,
                    SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK,
                )
                .map_err(io::Error::from)
            });
            match moved {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.held -= n;
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Err(err),
            }
        }
    }
}
