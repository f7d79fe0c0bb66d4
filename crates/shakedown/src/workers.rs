//! How many worker threads the async runtime that sends the load gets.
//!
//! One per core, unless every target is on this machine: then the target needs cores too, and a
//! load generator that takes them all competes with the very server it measures. Measured on a
//! 2-core machine against nginx on loopback (`bench/hit.sh`), a second thread lowers the rate of
//! `wrk` itself (`-t2` sends about 8% less than `-t1`) and of `shakedown hit` (one worker per
//! core sent 0.87 of `wrk -t1`, one worker 1.08). So a run whose targets are all on loopback gets
//! half the cores (at least one), and `--threads` overrides either default.

use std::num::NonZeroUsize;

/// The worker threads for a run whose targets have these base URLs, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workers {
    /// How many worker threads.
    pub threads: usize,
    /// Whether the count was halved because every target is on this machine.
    pub local_targets: bool,
}

impl Workers {
    /// `asked` if given (`--threads`), else the default for `urls` (see the module docs).
    pub fn choose<'a>(
        asked: Option<NonZeroUsize>,
        urls: impl IntoIterator<Item = &'a str>,
    ) -> Workers {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::choose_for(asked, urls, cores)
    }

    fn choose_for<'a>(
        asked: Option<NonZeroUsize>,
        urls: impl IntoIterator<Item = &'a str>,
        cores: usize,
    ) -> Workers {
        let mut urls = urls.into_iter().peekable();
        let local_targets = urls.peek().is_some() && urls.all(on_this_machine);
        let threads = match asked {
            Some(threads) => threads.get(),
            None if local_targets => (cores / 2).max(1),
            None => cores.max(1),
        };
        Workers {
            threads,
            local_targets: local_targets && asked.is_none(),
        }
    }

    /// A multi-thread tokio runtime with these workers and every driver enabled.
    pub fn runtime(self) -> std::io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.threads.max(1))
            .enable_all()
            .build()
    }
}

/// Whether `url`'s host is a loopback address or `localhost` (no name is resolved).
fn on_this_machine(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.to_canonical().is_loopback();
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_targets_get_half_the_cores_and_others_all() {
        let local = [
            "http://127.0.0.1:8080",
            "http://[::1]:9000/api",
            "http://localhost",
        ];
        assert_eq!(Workers::choose_for(None, local, 2).threads, 1);
        assert_eq!(Workers::choose_for(None, local, 8).threads, 4);
        assert_eq!(Workers::choose_for(None, local, 1).threads, 1);
        assert!(Workers::choose_for(None, local, 8).local_targets);
        let mixed = ["http://127.0.0.1:8080", "https://api.example.com"];
        assert_eq!(Workers::choose_for(None, mixed, 8).threads, 8);
        assert!(!Workers::choose_for(None, mixed, 8).local_targets);
        assert_eq!(Workers::choose_for(None, [], 8).threads, 8);
        assert_eq!(
            Workers::choose_for(NonZeroUsize::new(3), local, 8).threads,
            3
        );
        assert!(!Workers::choose_for(NonZeroUsize::new(3), local, 8).local_targets);
    }

    #[test]
    fn only_loopback_hosts_are_on_this_machine() {
        assert!(on_this_machine("http://127.1.2.3/"));
        assert!(on_this_machine("http://[::ffff:127.0.0.1]:80/"));
        assert!(on_this_machine("http://LOCALHOST.:3000/"));
        assert!(on_this_machine("http://api.localhost/"));
        assert!(!on_this_machine("http://10.0.0.1/"));
        assert!(!on_this_machine("http://localhost.example.com/"));
        assert!(!on_this_machine("not a url"));
    }
}
