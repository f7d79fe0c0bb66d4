//! The proxy's configuration as the data path sees it: a versioned, immutable set of active
//! toxics, published through a `watch` channel, and what it means for one connection.
//!
//! Control replaces the whole set (never waiting for the data path) and every connection reads
//! the newest one at its next step. Whether a toxic acts on a connection (its toxicity) is drawn
//! from an RNG seeded by the proxy's seed, the toxic and the connection number, so the choice is
//! the same wherever it is made and in every run with the same seed and order of connections.

use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::counters::ToxicCounters;
use super::toxics::{Flow, Toxic, ToxicSpec};

/// A toxic as the proxy holds it while it is active.
#[derive(Debug)]
pub(crate) struct ActiveToxic {
    /// Unique per proxy, in order of addition.
    pub id: u64,
    pub spec: ToxicSpec,
    pub counters: ToxicCounters,
    pub expires: Instant,
}

impl ActiveToxic {
    /// Whether this is a `down` toxic (the only one the listener acts on).
    pub fn is_down(&self) -> bool {
        matches!(self.spec.toxic, Toxic::Down(_))
    }
}

/// The active toxics, with the version that published them.
#[derive(Debug, Default)]
pub(crate) struct ToxicSet {
    pub version: u64,
    pub toxics: Vec<Arc<ActiveToxic>>,
}

impl ToxicSet {
    /// The active `down` toxic, if any.
    pub fn down(&self) -> Option<&Arc<ActiveToxic>> {
        self.toxics.iter().find(|t| t.is_down())
    }

    /// The toxic that expires first.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.toxics.iter().map(|t| t.expires).min()
    }
}

/// splitmix64: a fast, well-mixed hash of one word.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A seeded RNG for one purpose, derived from the proxy's seed and some words.
pub(crate) fn rng(seed: u64, words: &[u64]) -> ChaCha8Rng {
    let derived = words.iter().fold(mix(seed), |acc, w| mix(acc ^ mix(*w)));
    ChaCha8Rng::seed_from_u64(derived)
}

/// Whether `toxic` acts on connection `conn` (its toxicity, drawn once per pair).
pub(crate) fn selects(seed: u64, toxic: &ActiveToxic, conn: u64) -> bool {
    let p = toxic.spec.toxicity;
    if p >= 1.0 {
        return true;
    }
    if p <= 0.0 {
        return false;
    }
    rng(seed, &[0x5E1E_C7ED, toxic.id, conn]).r#gen::<f64>() < p
}

/// The toxics acting on one flow of one connection, folded into what the pipeline needs.
#[derive(Debug, Default)]
pub(crate) struct FlowToxics {
    /// Total latency and jitter (several latency toxics add up).
    pub latency: Option<super::toxics::Latency>,
    /// The lowest bandwidth cap.
    pub bandwidth: Option<super::toxics::Bandwidth>,
    /// The first slicer.
    pub slicer: Option<super::toxics::Slicer>,
    /// The lowest data limit, with the id of the toxic that set it.
    pub limit: Option<(u64, super::toxics::LimitData)>,
    /// The longest close delay.
    pub slow_close: Option<Duration>,
    /// Whether a `timeout` toxic holds the flow.
    pub blackhole: bool,
    /// Every toxic above, for their counters.
    pub acting: Vec<Arc<ActiveToxic>>,
}

impl FlowToxics {
    /// Fold `set` for connection `conn`, flow `flow`.
    pub fn new(set: &ToxicSet, seed: u64, conn: u64, flow: Flow) -> FlowToxics {
        let mut out = FlowToxics::default();
        for toxic in &set.toxics {
            if !toxic.spec.direction.includes(flow) || !selects(seed, toxic, conn) {
                continue;
            }
            let acts = match toxic.spec.toxic {
                Toxic::Latency(l) => {
                    let sum = out.latency.get_or_insert(super::toxics::Latency {
                        latency: Duration::ZERO,
                        jitter: Duration::ZERO,
                    });
                    sum.latency += l.latency;
                    sum.jitter += l.jitter;
                    true
                }
                Toxic::Bandwidth(b) => {
                    if out.bandwidth.is_none_or(|cur| b.rate < cur.rate) {
                        out.bandwidth = Some(b);
                    }
                    true
                }
                Toxic::Slicer(s) => {
                    out.slicer.get_or_insert(s);
                    true
                }
                Toxic::LimitData(l) => {
                    if out.limit.is_none_or(|(_, cur)| l.bytes < cur.bytes) {
                        out.limit = Some((toxic.id, l));
                    }
                    true
                }
                Toxic::SlowClose(s) => {
                    out.slow_close = Some(out.slow_close.unwrap_or_default().max(s.delay));
                    true
                }
                Toxic::Timeout(_) => {
                    out.blackhole = true;
                    true
                }
                // Connection-level toxics: the supervisor applies them.
                Toxic::ResetPeer(_) | Toxic::Down(_) => false,
            };
            if acts {
                out.acting.push(toxic.clone());
            }
        }
        out
    }

    /// Whether any toxic delays this flow's bytes.
    pub fn delays(&self) -> bool {
        self.latency.is_some() || self.bandwidth.is_some() || self.slicer.is_some()
    }

    /// The acting toxics of the kinds that `pick` selects.
    pub fn of<'a>(
        &'a self,
        pick: impl Fn(&Toxic) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Arc<ActiveToxic>> + 'a {
        self.acting.iter().filter(move |t| pick(&t.spec.toxic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::{Bandwidth, Direction, Latency, ResetPeer};

    fn active(id: u64, spec: ToxicSpec) -> Arc<ActiveToxic> {
        Arc::new(ActiveToxic {
            id,
            spec,
            counters: ToxicCounters::default(),
            expires: Instant::now() + Duration::from_secs(60),
        })
    }

    fn latency(ms: u64) -> Toxic {
        Toxic::Latency(Latency {
            latency: Duration::from_millis(ms),
            jitter: Duration::ZERO,
        })
    }

    #[test]
    fn selection_follows_toxicity_and_is_seeded() {
        let toxic = active(
            1,
            ToxicSpec::new(latency(1), Duration::from_secs(1)).toxicity(0.3),
        );
        let chosen =
            |seed| -> Vec<u64> { (0..1000).filter(|c| selects(seed, &toxic, *c)).collect() };
        let first = chosen(42);
        assert_eq!(first, chosen(42));
        assert_ne!(first, chosen(43));
        assert!((200..400).contains(&first.len()), "{}", first.len());
    }

    #[test]
    fn flows_fold_their_toxics() {
        let set = ToxicSet {
            version: 3,
            toxics: vec![
                active(
                    1,
                    ToxicSpec::new(latency(10), Duration::from_secs(1)).named("a"),
                ),
                active(
                    2,
                    ToxicSpec::new(latency(5), Duration::from_secs(1))
                        .named("b")
                        .direction(Direction::Both),
                ),
                active(
                    3,
                    ToxicSpec::new(
                        Toxic::Bandwidth(Bandwidth { rate: 100 }),
                        Duration::from_secs(1),
                    )
                    .direction(Direction::Upstream),
                ),
                active(
                    4,
                    ToxicSpec::new(
                        Toxic::ResetPeer(ResetPeer {
                            timeout: Duration::ZERO,
                        }),
                        Duration::from_secs(1),
                    ),
                ),
            ],
        };
        let down = FlowToxics::new(&set, 0, 1, Flow::Downstream);
        assert_eq!(
            down.latency.map(|l| l.latency),
            Some(Duration::from_millis(15))
        );
        assert!(down.bandwidth.is_none());
        assert_eq!(down.acting.len(), 2);
        let up = FlowToxics::new(&set, 0, 1, Flow::Upstream);
        assert_eq!(
            up.latency.map(|l| l.latency),
            Some(Duration::from_millis(5))
        );
        assert_eq!(up.bandwidth.map(|b| b.rate), Some(100));
    }
}
