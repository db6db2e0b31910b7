//! The Rust guest SDK for Portcullis plugins: generated bindings, an export macro, error conversions, host imports behind a trait.
