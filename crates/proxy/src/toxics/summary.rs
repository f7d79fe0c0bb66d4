//! A toxic in words, as a plan would write it: what `run --dry-run` prints for every toxic on a
//! fault timeline (`latency 300ms ± 20ms, downstream, every connection`).

use std::time::Duration;

use super::{Toxic, ToxicSpec};

fn time(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

impl Toxic {
    /// The kind and its parameters: `latency 300ms ± 20ms`, `bandwidth 1024 bytes/s`, `down`.
    pub fn summary(&self) -> String {
        match self {
            Toxic::Latency(l) if l.jitter.is_zero() => format!("latency {}", time(l.latency)),
            Toxic::Latency(l) => format!("latency {} ± {}", time(l.latency), time(l.jitter)),
            Toxic::Bandwidth(b) => format!("bandwidth {} bytes/s", b.rate),
            Toxic::Slicer(s) => format!(
                "slicer {} ± {} bytes per slice, {} between slices",
                s.average_size,
                s.size_variation,
                time(s.delay)
            ),
            Toxic::LimitData(l) => format!("limit_data: close after {} bytes", l.bytes),
            Toxic::SlowClose(s) => format!("slow_close: close {} late", time(s.delay)),
            Toxic::Timeout(t) => match t.timeout {
                Some(after) => format!("timeout (blackhole, then close after {})", time(after)),
                None => "timeout (blackhole until removed)".to_string(),
            },
            Toxic::ResetPeer(r) if r.timeout.is_zero() => "reset_peer (TCP RST at once)".into(),
            Toxic::ResetPeer(r) => format!("reset_peer (TCP RST after {})", time(r.timeout)),
            Toxic::Down(_) => "down (refuse new connections, close open ones)".to_string(),
        }
    }
}

impl ToxicSpec {
    /// The toxic, its direction and its toxicity:
    /// `latency 300ms, downstream, every connection`.
    pub fn summary(&self) -> String {
        let share = if self.toxicity >= 1.0 {
            "every connection".to_string()
        } else {
            format!("{}% of connections", self.toxicity * 100.0)
        };
        format!(
            "{}, {}, {share}",
            self.toxic.summary(),
            self.direction.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Direction, Down, Latency, Timeout};
    use super::*;

    #[test]
    fn toxics_read_as_a_plan_writes_them() {
        let latency = ToxicSpec::new(
            Toxic::Latency(Latency {
                latency: Duration::from_millis(300),
                jitter: Duration::from_millis(20),
            }),
            Duration::from_secs(10),
        )
        .toxicity(0.25)
        .direction(Direction::Both);
        assert_eq!(
            latency.summary(),
            "latency 300ms ± 20ms, both, 25% of connections"
        );
        let down = ToxicSpec::new(Toxic::Down(Down), Duration::from_secs(5));
        assert_eq!(
            down.summary(),
            "down (refuse new connections, close open ones), both, every connection"
        );
        let blackhole = Toxic::Timeout(Timeout { timeout: None });
        assert_eq!(blackhole.summary(), "timeout (blackhole until removed)");
    }
}
