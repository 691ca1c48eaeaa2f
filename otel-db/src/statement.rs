//! What the instrumentation derives from one SQL text, once: its summary,
//! span name and sanitized text, cached per statement in a bounded cache.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use otel_kit_core::instrument::{BoundCache, FastHasher, intern_span_name};

use crate::lexer::Dialect;
use crate::sanitize::{has_literals, sanitize_query};
use crate::summary::query_summary;

/// How many distinct statements each [`Instrumentation`](crate::Instrumentation)
/// remembers; past that, statements are analysed on every call (as without
/// the cache).
pub const STATEMENT_CACHE_CAPACITY: usize = 4096;

/// Statements longer than this (bytes) are analysed on every call instead
/// of being kept (a generated multi-megabyte `INSERT` is not kept alive).
const MAX_CACHED_STATEMENT_LEN: usize = 16 * 1024;

/// One SQL text as the spans see it.
#[derive(Debug)]
pub(crate) struct Statement {
    /// The text it was derived from (to tell a hash collision apart).
    text: Box<str>,
    /// `db.query.summary`, interned (a `'static` str when the interner had
    /// room, so the metric cache can key on its address).
    pub summary: Option<Cow<'static, str>>,
    /// The text with literals replaced, `None` when it has none.
    pub sanitized: Option<Box<str>>,
}

impl Statement {
    fn analyse(sql: &str, dialect: Dialect) -> Statement {
        let summary = query_summary(sql, dialect).map(|s| intern_span_name(Cow::Owned(s)));
        let sanitized =
            has_literals(sql, dialect).then(|| sanitize_query(sql, dialect).into_boxed_str());
        Statement {
            text: sql.into(),
            summary,
            sanitized,
        }
    }

    /// The text to record when literals must not be: the sanitized text,
    /// or the text itself when it has no literal.
    pub(crate) fn sanitized_text(&self) -> &str {
        self.sanitized.as_deref().unwrap_or(&self.text)
    }

    /// The text as given.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

/// The bounded statement cache, keyed by the text's hash and length; an
/// entry is used only when its text equals the one asked for.
pub(crate) struct StatementCache {
    cache: BoundCache<(u64, usize), Arc<Statement>>,
    dialect: Dialect,
}

impl StatementCache {
    pub(crate) fn new(dialect: Dialect) -> Self {
        StatementCache {
            cache: BoundCache::new(STATEMENT_CACHE_CAPACITY),
            dialect,
        }
    }

    /// The analysis of `sql`, from the cache when it is there.
    pub(crate) fn get(&self, sql: &str) -> Arc<Statement> {
        if sql.len() > MAX_CACHED_STATEMENT_LEN {
            return Arc::new(Statement::analyse(sql, self.dialect));
        }
        let mut hasher = FastHasher::default();
        sql.hash(&mut hasher);
        let key = (hasher.finish(), sql.len());
        match self
            .cache
            .get_or_bind(key, || Arc::new(Statement::analyse(sql, self.dialect)))
        {
            Some(found) if &*found.text == sql => found,
            _ => Arc::new(Statement::analyse(sql, self.dialect)),
        }
    }
}

impl std::fmt::Debug for StatementCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatementCache")
            .field("cache", &self.cache)
            .field("dialect", &self.dialect)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_once_and_correct() {
        let cache = StatementCache::new(Dialect::Postgres);
        let a = cache.get("SELECT name FROM users WHERE id = 7");
        let b = cache.get("SELECT name FROM users WHERE id = 7");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.summary.as_deref(), Some("SELECT users"));
        assert_eq!(a.sanitized_text(), "SELECT name FROM users WHERE id = ?");
        let c = cache.get("SELECT name FROM users WHERE id = $1");
        assert!(c.sanitized.is_none());
        assert_eq!(c.sanitized_text(), "SELECT name FROM users WHERE id = $1");
        let long = format!("SELECT {} FROM t", "a, ".repeat(10_000));
        assert_eq!(cache.get(&long).summary.as_deref(), Some("SELECT t"));
    }
}
