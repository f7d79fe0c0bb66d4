//! Load generation: executors, virtual users and HTTP steps.
