//! Rig calibration.
