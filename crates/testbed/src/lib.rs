//! The testbed: a miniature staging stack (API, workers, database, artifact store) with seeded
//! defects, used as shakedown's embedded default and as the ground for its integration tests.

pub mod cli;
