//! Geodesy: WGS84 ↔ ECEF ↔ local ENU.
