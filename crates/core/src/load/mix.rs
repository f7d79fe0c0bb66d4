//! Weighted scenario mixes: which scenario each virtual-user slot runs.
//!
//! Slots are shared out by the largest-remainder method, so the split is as close to the weights
//! as whole slots allow and never random: 20 slots at 1:1 are exactly 10 and 10, and 10 slots at
//! 1:2 are 3 and 7 (3.33 and 6.67, the larger remainder gets the spare slot).

/// How many of `slots` slots each weight gets (same order as `weights`). Ties in the remainder go
/// to the earlier entry. Zero weights get zero slots; all-zero weights get nothing.
pub fn allocate(slots: u32, weights: &[u32]) -> Vec<u32> {
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return vec![0; weights.len()];
    }
    let slots64 = u64::from(slots);
    let mut counts: Vec<u32> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u64, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = slots64 * u64::from(*w);
        // exact / total <= slots, which fits in u32.
        counts.push(u32::try_from(exact / total).unwrap_or(slots));
        remainders.push((exact % total, i));
    }
    let assigned: u32 = counts.iter().sum();
    // Largest remainder first; ties by position.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders
        .into_iter()
        .filter(|(_, i)| weights[*i] > 0)
        .take(slots.saturating_sub(assigned) as usize)
    {
        counts[i] += 1;
    }
    counts
}

/// The entry (index into `weights`) of each slot: contiguous blocks in mix order.
pub fn assign(slots: u32, weights: &[u32]) -> Vec<usize> {
    allocate(slots, weights)
        .into_iter()
        .enumerate()
        .flat_map(|(entry, n)| std::iter::repeat_n(entry, n as usize))
        .collect()
}

/// The entry of slot `slot` (from 0) under `counts` (what [`allocate`] returned), the same as
/// `assign(..)[slot]` without a vector as long as the slots: a pool that creates its users
/// lazily need not pay up front for users it may never start.
pub fn entry_of(slot: u32, counts: &[u32]) -> Option<usize> {
    let mut end = 0u64;
    counts.iter().position(|n| {
        end += u64::from(*n);
        u64::from(slot) < end
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_weights_split_exactly() {
        assert_eq!(allocate(20, &[1, 1]), [10, 10]);
        assert_eq!(allocate(20, &[5, 5]), [10, 10]);
        assert_eq!(allocate(1, &[1]), [1]);
    }

    #[test]
    fn largest_remainder_gets_the_spare_slots() {
        assert_eq!(allocate(10, &[1, 2]), [3, 7]);
        assert_eq!(allocate(10, &[1, 1, 1]), [4, 3, 3]);
        assert_eq!(allocate(7, &[3, 2, 2]), [3, 2, 2]);
        assert_eq!(allocate(2, &[1, 1, 1]), [1, 1, 0]);
        assert_eq!(allocate(5, &[0, 1]), [0, 5]);
        assert_eq!(allocate(5, &[0, 0]), [0, 0]);
        for slots in 0..50 {
            assert_eq!(allocate(slots, &[3, 5, 7]).iter().sum::<u32>(), slots);
        }
    }

    #[test]
    fn slots_are_assigned_in_blocks() {
        assert_eq!(assign(5, &[2, 3]), [0, 0, 1, 1, 1]);
        assert_eq!(assign(4, &[1, 1]), [0, 0, 1, 1]);
    }

    #[test]
    fn entry_of_agrees_with_assign() {
        for weights in [&[2, 3][..], &[1, 0, 4], &[0, 1], &[7]] {
            let counts = allocate(11, weights);
            let slots = assign(11, weights);
            for (slot, entry) in (0u32..).zip(&slots) {
                assert_eq!(entry_of(slot, &counts), Some(*entry));
            }
            assert_eq!(entry_of(11, &counts), None);
        }
        assert_eq!(
            entry_of(u32::MAX - 1, &allocate(u32::MAX, &[1, 1])),
            Some(1)
        );
    }
}
