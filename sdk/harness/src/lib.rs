//! Runs any plugin component on the real engine with fake capabilities: scripted remote sessions, HTTP fixtures, golden files, the conformance suite.
