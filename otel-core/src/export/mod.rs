//! Exporters this crate adds to the SDK: the human-readable console tree.
