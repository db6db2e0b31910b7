//! (slot: being written)
