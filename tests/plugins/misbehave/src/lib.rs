//! A test plugin that misbehaves on request (loops, allocates, panics, floods logs, calls hosts it may not) to prove the host contains it.
