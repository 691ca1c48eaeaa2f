//! What a traced client accepts as a statement: SQL text, or a statement
//! prepared through the traced client (which remembers its text).

use std::sync::Arc;

use tokio_postgres::Statement;

use crate::statement::Statement as Analysed;

/// A statement prepared with [`TracedClient::prepare`](super::TracedClient::prepare):
/// the tokio-postgres statement and the analysis of its text (summary,
/// sanitized text), so executing it makes the same span as the text would.
#[derive(Clone, Debug)]
pub struct TracedStatement {
    pub(crate) statement: Statement,
    pub(crate) analysed: Arc<Analysed>,
}

impl TracedStatement {
    /// The tokio-postgres statement (its parameter and column types).
    pub fn statement(&self) -> &Statement {
        &self.statement
    }

    /// The SQL text it was prepared from.
    pub fn sql(&self) -> &str {
        self.analysed.text()
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for str {}
    impl Sealed for String {}
    impl Sealed for super::TracedStatement {}
}

/// A statement the traced clients execute: `&str`, `&String` or a
/// [`TracedStatement`] (the counterpart of tokio-postgres' `ToStatement`).
pub trait ToQuery: sealed::Sealed + Sync + Send {
    /// The SQL text.
    fn sql(&self) -> &str;
    /// The prepared statement, if this is one.
    fn prepared(&self) -> Option<&TracedStatement>;
}

impl ToQuery for str {
    fn sql(&self) -> &str {
        self
    }
    fn prepared(&self) -> Option<&TracedStatement> {
        None
    }
}

impl ToQuery for String {
    fn sql(&self) -> &str {
        self
    }
    fn prepared(&self) -> Option<&TracedStatement> {
        None
    }
}

impl ToQuery for TracedStatement {
    fn sql(&self) -> &str {
        self.analysed.text()
    }
    fn prepared(&self) -> Option<&TracedStatement> {
        Some(self)
    }
}
