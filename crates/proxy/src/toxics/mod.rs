//! The toxics: the faults the proxy can put on a connection, their parameters, and their
//! validation.
//!
//! A toxic is a closed set ([`Toxic`]), one file per kind for its parameters and its arithmetic.
//! The pipeline (`pipeline.rs`) and the connection supervisor (`connection.rs`) apply them.
//! [`KINDS`] describes every kind and its parameters, so that the plan compiler can name the valid
//! kinds and parameters in its errors.

pub mod bandwidth;
pub mod down;
pub mod latency;
pub mod limit_data;
pub mod reset_peer;
pub mod slicer;
pub mod slow_close;
mod summary;
pub mod timeout;

use std::time::Duration;

pub use bandwidth::Bandwidth;
pub use down::Down;
pub use latency::Latency;
pub use limit_data::LimitData;
pub use reset_peer::ResetPeer;
pub use slicer::Slicer;
pub use slow_close::SlowClose;
pub use timeout::Timeout;

/// A bad toxic parameter: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct ToxicError {
    /// The parameter's name, as written in a plan (`latency`, `rate`, `toxicity`, ...).
    pub parameter: &'static str,
    /// What is wrong with it, and what would be right.
    pub message: String,
}

impl ToxicError {
    /// An error about `parameter`.
    pub fn new(parameter: &'static str, message: impl Into<String>) -> ToxicError {
        ToxicError {
            parameter,
            message: message.into(),
        }
    }
}

/// Which traffic a toxic acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server (requests).
    Upstream,
    /// Server to client (responses).
    Downstream,
    /// Both ways.
    Both,
}

impl Direction {
    /// Every direction, as written in a plan.
    pub const NAMES: &'static [&'static str] = &["upstream", "downstream", "both"];

    /// The name of the direction in a plan.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
            Direction::Both => "both",
        }
    }

    /// Parse a direction's plan name.
    pub fn parse(name: &str) -> Option<Direction> {
        match name {
            "upstream" => Some(Direction::Upstream),
            "downstream" => Some(Direction::Downstream),
            "both" => Some(Direction::Both),
            _ => None,
        }
    }

    /// Whether traffic flowing `flow` is in this direction.
    pub fn includes(self, flow: Flow) -> bool {
        matches!(
            (self, flow),
            (Direction::Both, _)
                | (Direction::Upstream, Flow::Upstream)
                | (Direction::Downstream, Flow::Downstream)
        )
    }
}

/// One of the two flows of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flow {
    /// Client to server.
    Upstream,
    /// Server to client.
    Downstream,
}

/// A toxic and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toxic {
    /// Delay every chunk.
    Latency(Latency),
    /// Cap throughput.
    Bandwidth(Bandwidth),
    /// Cut the stream into small delayed slices.
    Slicer(Slicer),
    /// Close the connection after some bytes.
    LimitData(LimitData),
    /// Delay the close.
    SlowClose(SlowClose),
    /// Let nothing through (blackhole), optionally closing after a while.
    Timeout(Timeout),
    /// Reset connections with a TCP RST.
    ResetPeer(ResetPeer),
    /// Close the listener and every connection.
    Down(Down),
}

impl Toxic {
    /// The kind's name, as written in a plan.
    pub fn kind(&self) -> &'static str {
        match self {
            Toxic::Latency(_) => "latency",
            Toxic::Bandwidth(_) => "bandwidth",
            Toxic::Slicer(_) => "slicer",
            Toxic::LimitData(_) => "limit_data",
            Toxic::SlowClose(_) => "slow_close",
            Toxic::Timeout(_) => "timeout",
            Toxic::ResetPeer(_) => "reset_peer",
            Toxic::Down(_) => "down",
        }
    }

    /// The direction a toxic of this kind acts on when the plan does not say: the ones that end
    /// connections act both ways, the ones that shape data act on responses (as in Toxiproxy).
    pub fn default_direction(&self) -> Direction {
        match self {
            Toxic::Timeout(_) | Toxic::ResetPeer(_) | Toxic::Down(_) => Direction::Both,
            Toxic::Latency(_)
            | Toxic::Bandwidth(_)
            | Toxic::Slicer(_)
            | Toxic::LimitData(_)
            | Toxic::SlowClose(_) => Direction::Downstream,
        }
    }
}

/// A toxic to add to a proxy: what it does, where, to how many connections, and for how long at
/// most.
#[derive(Debug, Clone, PartialEq)]
pub struct ToxicSpec {
    /// Unique among the proxy's active toxics; removal is by name.
    pub name: String,
    /// What it does.
    pub toxic: Toxic,
    /// Which flows it acts on.
    pub direction: Direction,
    /// The probability, drawn once per connection from the proxy's seeded RNG, that it acts on a
    /// connection.
    pub toxicity: f64,
    /// The proxy removes the toxic by itself this long after adding it, even if nobody asks.
    pub ttl: Duration,
}

impl ToxicSpec {
    /// A toxic named after its kind, acting in its kind's default direction on every connection.
    pub fn new(toxic: Toxic, ttl: Duration) -> ToxicSpec {
        ToxicSpec {
            name: toxic.kind().to_string(),
            direction: toxic.default_direction(),
            toxic,
            toxicity: 1.0,
            ttl,
        }
    }

    /// The same toxic under another name.
    pub fn named(mut self, name: impl Into<String>) -> ToxicSpec {
        self.name = name.into();
        self
    }

    /// The same toxic in another direction.
    pub fn direction(mut self, direction: Direction) -> ToxicSpec {
        self.direction = direction;
        self
    }

    /// The same toxic with another toxicity.
    pub fn toxicity(mut self, toxicity: f64) -> ToxicSpec {
        self.toxicity = toxicity;
        self
    }

    /// Check every parameter.
    pub fn validate(&self) -> Result<(), ToxicError> {
        if self.name.trim().is_empty() {
            return Err(ToxicError::new("name", "a toxic needs a non-empty name"));
        }
        if !(0.0..=1.0).contains(&self.toxicity) {
            return Err(ToxicError::new(
                "toxicity",
                format!(
                    "toxicity {} is not a probability; use a number from 0 to 1",
                    self.toxicity
                ),
            ));
        }
        if self.ttl.is_zero() {
            return Err(ToxicError::new(
                "ttl",
                "a toxic needs a TTL greater than 0, so that it always expires",
            ));
        }
        match &self.toxic {
            Toxic::Latency(t) => t.validate(),
            Toxic::Bandwidth(t) => t.validate(),
            Toxic::Slicer(t) => t.validate(),
            Toxic::LimitData(t) => t.validate(),
            Toxic::SlowClose(t) => t.validate(),
            Toxic::Timeout(t) => t.validate(),
            Toxic::ResetPeer(t) => t.validate(),
            Toxic::Down(_) => Down::validate(self.toxicity),
        }
    }
}

/// The type of a toxic parameter, for the plan compiler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// A duration string, e.g. `"300ms"`.
    Duration,
    /// A non-negative integer number of bytes.
    Bytes,
}

impl ParamType {
    /// How the type is written in messages and docs.
    pub fn describe(self) -> &'static str {
        match self {
            ParamType::Duration => "a duration",
            ParamType::Bytes => "an integer >= 0 (bytes)",
        }
    }
}

/// A parameter's value, as the plan compiler read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamValue {
    /// A duration.
    Duration(Duration),
    /// A number of bytes (or bytes per second).
    Bytes(u64),
}

/// One parameter of a toxic kind.
#[derive(Debug, Clone, Copy)]
pub struct ParamInfo {
    /// Its name in a plan.
    pub name: &'static str,
    /// Its type.
    pub ty: ParamType,
    /// Its default, as written in a plan; `None` if it is required.
    pub default: Option<&'static str>,
    /// What it means.
    pub doc: &'static str,
}

/// One toxic kind and its parameters.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    /// The kind's name in a plan.
    pub name: &'static str,
    /// What it does.
    pub doc: &'static str,
    /// Its parameters (besides `direction` and `toxicity`, which every kind has).
    pub params: &'static [ParamInfo],
}

const fn param(
    name: &'static str,
    ty: ParamType,
    default: Option<&'static str>,
    doc: &'static str,
) -> ParamInfo {
    ParamInfo {
        name,
        ty,
        default,
        doc,
    }
}

/// Every toxic kind, in the order the docs list them.
pub const KINDS: &[KindInfo] = &[
    KindInfo {
        name: "latency",
        doc: "delays every chunk, measured from its arrival, without capping throughput",
        params: &[
            param(
                "latency",
                ParamType::Duration,
                None,
                "delay added to every chunk",
            ),
            param(
                "jitter",
                ParamType::Duration,
                Some("\"0s\""),
                "each delay is drawn from latency ± jitter (seeded)",
            ),
        ],
    },
    KindInfo {
        name: "bandwidth",
        doc: "caps throughput",
        params: &[param("rate", ParamType::Bytes, None, "bytes per second")],
    },
    KindInfo {
        name: "slicer",
        doc: "cuts the stream into small slices with a pause after each",
        params: &[
            param("average_size", ParamType::Bytes, None, "bytes per slice"),
            param(
                "size_variation",
                ParamType::Bytes,
                Some("0"),
                "each slice's size is drawn from average_size ± size_variation",
            ),
            param(
                "delay",
                ParamType::Duration,
                Some("\"0s\""),
                "pause after each slice",
            ),
        ],
    },
    KindInfo {
        name: "limit_data",
        doc: "closes the connection after some bytes",
        params: &[param(
            "bytes",
            ParamType::Bytes,
            None,
            "bytes let through before closing",
        )],
    },
    KindInfo {
        name: "slow_close",
        doc: "delays the close after the last byte",
        params: &[param(
            "delay",
            ParamType::Duration,
            None,
            "how long the close is held",
        )],
    },
    KindInfo {
        name: "timeout",
        doc: "blackhole: accepts, lets nothing through; closes after `timeout` unless it is 0s",
        params: &[param(
            "timeout",
            ParamType::Duration,
            Some("\"0s\""),
            "close the connection this long after the toxic reached it; 0s holds until removed",
        )],
    },
    KindInfo {
        name: "reset_peer",
        doc: "resets connections with a real TCP RST (ECONNRESET)",
        params: &[param(
            "timeout",
            ParamType::Duration,
            Some("\"0s\""),
            "reset this long after the toxic reached the connection",
        )],
    },
    KindInfo {
        name: "down",
        doc: "closes the listener and every connection: new connections are refused",
        params: &[],
    },
];

/// The names of every toxic kind, for "valid kinds are ..." messages.
pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name).collect()
}

/// Build a toxic of kind `kind` from its parameters. `get` returns a parameter's value, or `None`
/// if it was not given (then its default applies). The caller has checked the types and that no
/// unknown parameter was given (see [`KINDS`]).
pub fn build(
    kind: &str,
    get: &dyn Fn(&'static str) -> Option<ParamValue>,
) -> Result<Toxic, ToxicError> {
    let duration = |name: &'static str| -> Result<Option<Duration>, ToxicError> {
        match get(name) {
            None => Ok(None),
            Some(ParamValue::Duration(d)) => Ok(Some(d)),
            Some(ParamValue::Bytes(_)) => {
                Err(ToxicError::new(name, "expected a duration, e.g. \"300ms\""))
            }
        }
    };
    let bytes = |name: &'static str| -> Result<Option<u64>, ToxicError> {
        match get(name) {
            None => Ok(None),
            Some(ParamValue::Bytes(b)) => Ok(Some(b)),
            Some(ParamValue::Duration(_)) => {
                Err(ToxicError::new(name, "expected an integer number of bytes"))
            }
        }
    };
    let required = |name: &'static str, value: Option<u64>| {
        value.ok_or_else(|| ToxicError::new(name, format!("`{kind}` needs `{name}`")))
    };
    let required_duration = |name: &'static str, value: Option<Duration>| {
        value.ok_or_else(|| ToxicError::new(name, format!("`{kind}` needs `{name}`")))
    };
    let size = |name: &'static str, value: u64| {
        usize::try_from(value).map_err(|_| ToxicError::new(name, "too large"))
    };
    Ok(match kind {
        "latency" => Toxic::Latency(Latency {
            latency: required_duration("latency", duration("latency")?)?,
            jitter: duration("jitter")?.unwrap_or_default(),
        }),
        "bandwidth" => Toxic::Bandwidth(Bandwidth {
            rate: required("rate", bytes("rate")?)?,
        }),
        "slicer" => Toxic::Slicer(Slicer {
            average_size: size(
                "average_size",
                required("average_size", bytes("average_size")?)?,
            )?,
            size_variation: size("size_variation", bytes("size_variation")?.unwrap_or(0))?,
            delay: duration("delay")?.unwrap_or_default(),
        }),
        "limit_data" => Toxic::LimitData(LimitData {
            bytes: required("bytes", bytes("bytes")?)?,
        }),
        "slow_close" => Toxic::SlowClose(SlowClose {
            delay: required_duration("delay", duration("delay")?)?,
        }),
        "timeout" => Toxic::Timeout(Timeout {
            timeout: duration("timeout")?.filter(|d| !d.is_zero()),
        }),
        "reset_peer" => Toxic::ResetPeer(ResetPeer {
            timeout: duration("timeout")?.unwrap_or_default(),
        }),
        "down" => Toxic::Down(Down),
        other => {
            return Err(ToxicError::new(
                "toxic",
                format!(
                    "unknown toxic `{other}`; valid toxics are {}",
                    kind_names().join(", ")
                ),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_build_agree() {
        for kind in KINDS {
            let get = |name: &'static str| {
                let info = kind.params.iter().find(|p| p.name == name)?;
                Some(match info.ty {
                    ParamType::Duration => ParamValue::Duration(Duration::from_millis(10)),
                    ParamType::Bytes => ParamValue::Bytes(10),
                })
            };
            let toxic = build(kind.name, &get).unwrap_or_else(|e| panic!("{}: {e}", kind.name));
            assert_eq!(toxic.kind(), kind.name);
            // Every required parameter is really required.
            for required in kind.params.iter().filter(|p| p.default.is_none()) {
                let missing = |name: &'static str| {
                    if name == required.name {
                        None
                    } else {
                        get(name)
                    }
                };
                let err = build(kind.name, &missing).unwrap_err();
                assert_eq!(err.parameter, required.name);
            }
        }
    }

    #[test]
    fn an_unknown_kind_lists_the_valid_ones() {
        let err = build("latancy", &|_| None).unwrap_err();
        assert!(err.message.contains("latency, bandwidth, slicer"), "{err}");
        assert!(err.message.contains("reset_peer, down"), "{err}");
    }

    #[test]
    fn specs_are_validated() {
        let down = ToxicSpec::new(Toxic::Down(Down), Duration::from_secs(1));
        assert!(down.validate().is_ok());
        assert_eq!(
            down.clone().toxicity(0.5).validate().unwrap_err().parameter,
            "toxicity"
        );
        let latency = ToxicSpec::new(
            Toxic::Latency(Latency {
                latency: Duration::from_millis(5),
                jitter: Duration::ZERO,
            }),
            Duration::from_secs(1),
        );
        assert_eq!(latency.direction, Direction::Downstream);
        assert_eq!(
            latency
                .clone()
                .toxicity(1.5)
                .validate()
                .unwrap_err()
                .parameter,
            "toxicity"
        );
        let mut no_ttl = latency.clone();
        no_ttl.ttl = Duration::ZERO;
        assert_eq!(no_ttl.validate().unwrap_err().parameter, "ttl");
        assert!(Direction::Both.includes(Flow::Upstream));
        assert!(!Direction::Downstream.includes(Flow::Upstream));
    }
}
