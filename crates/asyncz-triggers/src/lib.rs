//! asyncz-triggers (being written).
