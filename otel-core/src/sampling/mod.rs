//! Samplers: the SDK's, plus rule-based, rate-limiting and force-keep samplers.

mod force_keep;

pub use force_keep::{ForceKeep, is_force_keep, with_force_keep};
