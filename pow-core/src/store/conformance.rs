//! Store conformance suite. (Being written.)
