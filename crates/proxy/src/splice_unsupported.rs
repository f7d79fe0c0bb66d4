//! Where `splice(2)` does not exist, every flow takes the buffered path: this stand-in never
//! creates a pipe.

use std::io;

use tokio::net::TcpStream;

/// Never created.
#[derive(Debug)]
pub(crate) struct SpliceRelay {
    never: std::convert::Infallible,
}

impl SpliceRelay {
    /// Always fails: the platform has no `splice`.
    pub(crate) fn new() -> io::Result<SpliceRelay> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(crate) fn held(&self) -> usize {
        match self.never {}
    }

    pub(crate) fn split(&mut self) -> (&mut SplicePipe, &mut SplicePipe) {
        match self.never {}
    }

    pub(crate) fn rotate(&mut self) {
        match self.never {}
    }
}

/// Never created.
#[derive(Debug)]
pub(crate) struct SplicePipe {
    never: std::convert::Infallible,
}

impl SplicePipe {
    pub(crate) fn is_empty(&self) -> bool {
        match self.never {}
    }

    pub(crate) async fn fill(&mut self, _from: &TcpStream, _max: usize) -> io::Result<usize> {
        match self.never {}
    }

    pub(crate) async fn drain(&mut self, _to: &TcpStream) -> io::Result<usize> {
        match self.never {}
    }
}
