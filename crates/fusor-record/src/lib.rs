//! MCAP recordings.
