//! When the ledger's watch reads each key, and how many reads it may make: pure state driven by
//! explicit instants, so that both are tested without a clock.
//!
//! [`Schedule`]: a key not yet seen terminal is due every `interval`; once a read saw it
//! terminal it is due every `interval` for `confirm` more, then left alone; a key has at most one
//! read in flight. [`Allowance`]: reads may be at most a share of the requests the load has sent
//! (plus a floor), at most `max_rate` per second.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use tokio::time::Instant;

/// Reads the watch may make before the load has sent anything, so that the first keys are read.
pub const WATCH_FLOOR: u64 = 16;

/// The most reads the rate cap lets through at once.
pub const RATE_BURST: f64 = 16.0;

/// Where a key stands in its reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Not yet seen with every job terminal: read every interval.
    Pending,
    /// Seen terminal by a read started at `since`: read every interval until `since + confirm`.
    Confirming {
        /// When that read started.
        since: Instant,
    },
    /// Confirmed, or never readable: left to settle.
    Done,
}

/// What one read of a key showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// It answered with at least one job, every one of them terminal.
    Terminal,
    /// It answered with no job, or a job not yet terminal.
    NotTerminal,
    /// It failed (no answer, an error status, a bad body, cancelled).
    Failed,
}

#[derive(Debug, Clone)]
struct Slot {
    stage: Stage,
    /// When the next read is due (meaningful while not in flight and not done).
    due: Instant,
    in_flight: bool,
    /// Bumped when the key in this slot is replaced, so a read of the old one is not taken for
    /// a read of the new one.
    generation: u32,
    /// Whether any read saw this key terminal.
    seen_terminal: bool,
}

/// The per-key read schedule of the watch. Keys are slots, numbered in registration order.
#[derive(Debug)]
pub struct Schedule {
    interval: Duration,
    confirm: Duration,
    slots: Vec<Slot>,
    /// (due, slot); an entry whose slot has moved on is stale and dropped when met.
    queue: BinaryHeap<Reverse<(Instant, usize)>>,
}

impl Schedule {
    /// A schedule reading every `interval`, confirming a terminal key for `confirm`.
    pub fn new(interval: Duration, confirm: Duration) -> Schedule {
        Schedule {
            interval,
            confirm,
            slots: Vec::new(),
            queue: BinaryHeap::new(),
        }
    }

    /// Slots so far.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Register the next key; a readable one is due at `now`. Returns its slot.
    pub fn add(&mut self, readable: bool, now: Instant) -> usize {
        let slot = self.slots.len();
        self.slots.push(Slot {
            stage: Stage::Done,
            due: now,
            in_flight: false,
            generation: 0,
            seen_terminal: false,
        });
        self.reset(slot, readable, now);
        slot
    }

    /// The key in `slot` was replaced (submitted again, or given a read): start it afresh, due
    /// at `now`, or when the read of the old key in flight ends.
    pub fn replace(&mut self, slot: usize, readable: bool, now: Instant) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.generation = s.generation.wrapping_add(1);
            s.seen_terminal = false;
            self.reset(slot, readable, now);
        }
    }

    fn reset(&mut self, slot: usize, readable: bool, now: Instant) {
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        s.stage = if readable {
            Stage::Pending
        } else {
            Stage::Done
        };
        s.due = now;
        if readable && !s.in_flight {
            self.queue.push(Reverse((now, slot)));
        }
    }

    /// The generation of the key in `slot`.
    pub fn generation(&self, slot: usize) -> u32 {
        self.slots.get(slot).map_or(0, |s| s.generation)
    }

    /// The stage of the key in `slot`.
    #[cfg(test)]
    pub fn stage(&self, slot: usize) -> Option<Stage> {
        self.slots.get(slot).map(|s| s.stage)
    }

    /// Keys a read saw terminal.
    pub fn seen_terminal(&self) -> usize {
        self.slots.iter().filter(|s| s.seen_terminal).count()
    }

    fn is_live(&self, due: Instant, slot: usize) -> bool {
        self.slots
            .get(slot)
            .is_some_and(|s| s.due == due && !s.in_flight && s.stage != Stage::Done)
    }

    /// When the earliest read is due, if any is.
    pub fn next_due(&mut self) -> Option<Instant> {
        while let Some(&Reverse((due, slot))) = self.queue.peek() {
            if self.is_live(due, slot) {
                return Some(due);
            }
            self.queue.pop();
        }
        None
    }

    /// The slot whose read is most overdue at `now`, taken off the queue: the caller then
    /// [`start`](Self::start)s it, [`skip`](Self::skip)s it or [`put_back`](Self::put_back)s it.
    pub fn take_due(&mut self, now: Instant) -> Option<usize> {
        let due = self.next_due()?;
        if due > now {
            return None;
        }
        self.queue.pop().map(|Reverse((_, slot))| slot)
    }

    /// A read of `slot` starts: no other until it ends.
    pub fn start(&mut self, slot: usize) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.in_flight = true;
        }
    }

    /// The read due now is not made: the next is due one interval later.
    pub fn skip(&mut self, slot: usize, now: Instant) {
        let next = now + self.interval;
        self.plan(slot, next);
    }

    /// The read stays due as it was (it waits for the rate cap).
    pub fn put_back(&mut self, slot: usize) {
        if let Some(s) = self.slots.get(slot) {
            self.queue.push(Reverse((s.due, slot)));
        }
    }

    /// A read of generation `generation` of `slot`, started at `started`, ended at `now` having
    /// seen `seen`. A read of a replaced key only frees the slot.
    pub fn finish(
        &mut self,
        slot: usize,
        generation: u32,
        seen: Seen,
        started: Instant,
        now: Instant,
    ) {
        let (interval, confirm) = (self.interval, self.confirm);
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        s.in_flight = false;
        if s.generation != generation {
            if s.stage != Stage::Done {
                let due = s.due;
                self.queue.push(Reverse((due, slot)));
            }
            return;
        }
        if seen == Seen::Terminal {
            s.seen_terminal = true;
        }
        s.stage = match (s.stage, seen) {
            (Stage::Pending, Seen::Terminal) => Stage::Confirming { since: started },
            // A regression: read it as a pending key again, then confirm it again.
            (Stage::Confirming { .. }, Seen::NotTerminal) => Stage::Pending,
            (stage, _) => stage,
        };
        let next = (started + interval).max(now);
        if let Stage::Confirming { since } = s.stage
            && started + interval > since + confirm
        {
            s.stage = Stage::Done;
            return;
        }
        if s.stage != Stage::Done {
            self.plan(slot, next);
        }
    }

    fn plan(&mut self, slot: usize, due: Instant) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.due = due;
            self.queue.push(Reverse((due, slot)));
        }
    }
}

/// Why a read may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The reads have reached their share of the requests sent: wait for the load.
    Share,
    /// The rate cap: the next read may start at this instant.
    Rate(Instant),
}

/// How many background reads may start: at most `floor + share × requests sent by the load`
/// in all, and at most `max_rate` per second (a token bucket holding at most [`RATE_BURST`]).
#[derive(Debug, Clone)]
pub struct Allowance {
    share: f64,
    max_rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
    granted: u64,
}

impl Allowance {
    /// A full allowance at `now`.
    pub fn new(share: f64, max_rate: f64, now: Instant) -> Allowance {
        let burst = max_rate.clamp(1.0, RATE_BURST);
        Allowance {
            share,
            max_rate,
            burst,
            tokens: burst,
            refilled: now,
            granted: 0,
        }
    }

    /// Reads granted so far.
    pub fn granted(&self) -> u64 {
        self.granted
    }

    /// Whether a read may start at `now`, the load having sent `load_sent` requests; nothing is
    /// taken (see [`take`](Self::take)).
    pub fn check(&mut self, now: Instant, load_sent: u64) -> Result<(), Refusal> {
        let earned = (self.share * load_sent as f64).floor();
        let limit = WATCH_FLOOR.saturating_add(if earned >= u64::MAX as f64 {
            u64::MAX
        } else {
            earned as u64
        });
        if self.granted >= limit {
            return Err(Refusal::Share);
        }
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.max_rate).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.max_rate;
            Err(Refusal::Rate(now + Duration::from_secs_f64(wait)))
        }
    }

    /// Take one read, after a [`check`](Self::check) that allowed it.
    pub fn take(&mut self) {
        self.tokens -= 1.0;
        self.granted += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_pending_key_is_due_every_interval_with_one_read_in_flight() {
        let t0 = Instant::now();
        let mut s = Schedule::new(100 * MS, 250 * MS);
        let a = s.add(true, t0);
        let unreadable = s.add(false, t0);
        assert_eq!(s.take_due(t0), Some(a));
        assert_eq!(s.take_due(t0), None, "the unreadable key is never due");
        s.start(a);
        assert_eq!(s.next_due(), None, "one read in flight per key");
        assert_eq!(s.take_due(t0 + 10 * 100 * MS), None);
        s.finish(a, s.generation(a), Seen::NotTerminal, t0, t0 + 30 * MS);
        assert_eq!(s.next_due(), Some(t0 + 100 * MS));
        assert_eq!(s.take_due(t0 + 99 * MS), None);
        assert_eq!(s.take_due(t0 + 100 * MS), Some(a));
        s.start(a);
        // A read slower than the interval makes the next one due when it ends.
        s.finish(
            a,
            s.generation(a),
            Seen::Failed,
            t0 + 100 * MS,
            t0 + 350 * MS,
        );
        assert_eq!(s.next_due(), Some(t0 + 350 * MS));
        assert_eq!(s.stage(a), Some(Stage::Pending));
        assert_eq!(s.stage(unreadable), Some(Stage::Done));
    }

    /// Drive one key: each read starts when due and ends 1ms later seeing `seen(n)` for the
    /// n-th read; returns the start times (ms after t0) of the reads made before `until_ms`.
    fn drive(s: &mut Schedule, until_ms: u64, seen: impl Fn(usize) -> Seen) -> Vec<u64> {
        let t0 = Instant::now();
        let key = s.add(true, t0);
        let mut starts = Vec::new();
        while let Some(due) = s.next_due() {
            if due > t0 + Duration::from_millis(until_ms) {
                break;
            }
            assert_eq!(s.take_due(due), Some(key));
            s.start(key);
            let n = starts.len();
            starts.push((due - t0).as_millis() as u64);
            s.finish(key, s.generation(key), seen(n), due, due + MS);
        }
        starts
    }

    #[test]
    fn a_terminal_key_is_confirmed_for_confirm_then_left_alone() {
        let mut s = Schedule::new(100 * MS, 250 * MS);
        let starts = drive(&mut s, 10_000, |n| {
            if n < 2 {
                Seen::NotTerminal
            } else {
                Seen::Terminal
            }
        });
        // Terminal at 200ms: confirmed at 300 and 400, then nothing (500 > 200 + 250).
        assert_eq!(starts, vec![0, 100, 200, 300, 400]);
        assert_eq!(s.stage(0), Some(Stage::Done));
        assert_eq!(s.seen_terminal(), 1);

        let mut none = Schedule::new(100 * MS, Duration::ZERO);
        assert_eq!(drive(&mut none, 10_000, |_| Seen::Terminal), vec![0]);
    }

    #[test]
    fn a_regression_while_confirming_is_read_until_terminal_again() {
        let mut s = Schedule::new(100 * MS, 150 * MS);
        let states = [
            Seen::Terminal,
            Seen::NotTerminal,
            Seen::NotTerminal,
            Seen::Terminal,
            Seen::Terminal,
        ];
        let starts = drive(&mut s, 10_000, |n| {
            states.get(n).copied().unwrap_or(Seen::Terminal)
        });
        // Terminal at 0, regressed at 100 and 200, terminal again at 300, confirmed at 400.
        assert_eq!(starts, vec![0, 100, 200, 300, 400]);
        assert_eq!(s.stage(0), Some(Stage::Done));
    }

    #[test]
    fn a_replaced_key_starts_afresh_and_the_old_read_is_ignored() {
        let t0 = Instant::now();
        let mut s = Schedule::new(100 * MS, 1000 * MS);
        let a = s.add(true, t0);
        assert_eq!(s.take_due(t0), Some(a));
        s.start(a);
        let old = s.generation(a);
        s.replace(a, true, t0 + 10 * MS);
        assert_eq!(s.next_due(), None, "still one read in flight");
        s.finish(a, old, Seen::Terminal, t0, t0 + 20 * MS);
        assert_eq!(
            s.stage(a),
            Some(Stage::Pending),
            "the old key's read says nothing"
        );
        assert_eq!(s.seen_terminal(), 0);
        assert_eq!(
            s.take_due(t0 + 20 * MS),
            Some(a),
            "the new key is due at once"
        );
        s.replace(a, false, t0 + 30 * MS);
        assert_eq!(s.stage(a), Some(Stage::Done));
    }

    #[test]
    fn a_skipped_read_is_due_one_interval_later_and_a_put_back_one_stays_due() {
        let t0 = Instant::now();
        let mut s = Schedule::new(100 * MS, 100 * MS);
        let a = s.add(true, t0);
        let b = s.add(true, t0 + MS);
        assert_eq!(s.take_due(t0 + 5 * MS), Some(a), "the most overdue first");
        s.skip(a, t0 + 5 * MS);
        assert_eq!(s.take_due(t0 + 5 * MS), Some(b));
        s.put_back(b);
        assert_eq!(s.take_due(t0 + 5 * MS), Some(b));
        s.put_back(b);
        assert_eq!(s.next_due(), Some(t0 + MS));
        assert_eq!(s.take_due(t0 + 5 * MS), Some(b));
        s.start(b);
        assert_eq!(s.take_due(t0 + 104 * MS), None);
        assert_eq!(s.take_due(t0 + 105 * MS), Some(a));
    }

    #[test]
    fn the_share_allows_a_floor_then_half_of_what_the_load_sent() {
        let t0 = Instant::now();
        // One read a second, never held back by the rate cap.
        let mut a = Allowance::new(0.5, 1.0, t0);
        let mut second = 0;
        let mut check = |a: &mut Allowance, load_sent| {
            second += 1;
            a.check(t0 + Duration::from_secs(second), load_sent)
        };
        for _ in 0..WATCH_FLOOR {
            assert_eq!(check(&mut a, 0), Ok(()));
            a.take();
        }
        assert_eq!(check(&mut a, 0), Err(Refusal::Share));
        assert_eq!(
            check(&mut a, 1),
            Err(Refusal::Share),
            "half of 1 is 0 reads"
        );
        let mut more = 0;
        while check(&mut a, 10).is_ok() {
            a.take();
            more += 1;
        }
        assert_eq!(more, 5);
        assert_eq!(a.granted(), WATCH_FLOOR + 5);
        assert_eq!(check(&mut a, u64::MAX), Ok(()), "no overflow");
    }

    /// When the rate cap lets the next read start, in ms after `from`.
    fn rate_wait_ms(refusal: Result<(), Refusal>, from: Instant) -> u128 {
        match refusal {
            Err(Refusal::Rate(at)) => (at - from).as_micros().div_ceil(1000),
            other => panic!("expected the rate cap, got {other:?}"),
        }
    }

    #[test]
    fn the_rate_cap_refills_over_time_up_to_its_burst() {
        let t0 = Instant::now();
        let mut a = Allowance::new(1.0, 10.0, t0);
        let sent = 1_000_000;
        for _ in 0..10 {
            assert_eq!(a.check(t0, sent), Ok(()));
            a.take();
        }
        assert_eq!(rate_wait_ms(a.check(t0, sent), t0), 100);
        let t1 = t0 + 101 * MS;
        assert_eq!(a.check(t1, sent), Ok(()));
        a.take();
        assert_eq!(rate_wait_ms(a.check(t1, sent), t1), 99);
        // A long pause refills at most the burst.
        let later = t1 + Duration::from_secs(60);
        let mut burst = 0;
        while a.check(later, sent).is_ok() {
            a.take();
            burst += 1;
        }
        assert_eq!(burst, 10);
        assert_eq!(Allowance::new(1.0, 200.0, t0).burst, RATE_BURST);
        assert_eq!(Allowance::new(1.0, 0.2, t0).burst, 1.0);
    }
}
