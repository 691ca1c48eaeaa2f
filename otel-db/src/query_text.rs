//! What `db.query.text` holds.

/// What `db.query.text` holds (the conventions: parameterized text SHOULD
/// NOT be sanitized; other text SHOULD NOT be recorded unless its literals
/// are removed).
///
/// Redis commands are always recorded as the command name followed by one
/// `?` per argument (`SET ? ?`) unless this is [`QueryText::Off`]: keys and
/// values may be personal data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueryText {
    /// No `db.query.text`.
    Off,
    /// Every text with its literals replaced by `?` and comments removed,
    /// parameterized or not.
    Sanitized,
    /// Text sent with bind parameters as written (`... WHERE id = $1`);
    /// text without parameters sanitized (`... WHERE id = ?`).
    #[default]
    Default,
}
