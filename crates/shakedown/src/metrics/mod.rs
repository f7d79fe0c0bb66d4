//! Measurements: mergeable HDR histograms per test and step, error signatures, and the summary
//! that reports and thresholds read.

pub mod summary;
