//! Diesel users context. (Being written.)
