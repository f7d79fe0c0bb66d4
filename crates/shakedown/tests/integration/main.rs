//! Integration tests.

mod support;
mod testbed;
