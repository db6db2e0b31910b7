//! Example cloud connector in Rust: reads an inventory over HTTP and pages through it.
