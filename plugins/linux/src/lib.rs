//! The first-party Linux automation plugin: ping, verify, change secret, push, gather and remove accounts over SSH.
