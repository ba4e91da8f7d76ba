//! Handler tests (to be written).
