//! pow-rs extension.
