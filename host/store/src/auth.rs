//! Store side of authentication (being written).
