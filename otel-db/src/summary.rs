//! `db.query.summary` from SQL text without a full parser: the operations
//! in the order they appear and the tables each one touches
//! (`SELECT users orders`, `INSERT shipping_details SELECT orders`), per
//! "Generating a summary of the query" of the database conventions.
//!
//! What is kept: operation keywords (`SELECT`, `INSERT`, `UPDATE`,
//! `DELETE`, `MERGE`, `COPY`, `CALL`, DDL with its object kind and name,
//! and the first keyword of any other statement: `BEGIN`, `COMMIT`, `SET`,
//! ...) and the tables after `FROM`, `JOIN`, `INTO`, `UPDATE`, `USING`, as
//! written (qualified names and quotes kept, no case change). Literals,
//! columns, conditions, aliases and functions are left out, so the summary
//! is low-cardinality: it names a class of queries. At most
//! [`MAX_SUMMARY_LEN`] bytes, cut at a word.

use crate::lexer::{Dialect, Kind, Lexer, Token};

/// The longest summary, in bytes (the conventions' limit of 255).
pub const MAX_SUMMARY_LEN: usize = 255;

/// The summary of `sql`, or `None` when no operation was recognised (empty
/// or non-SQL text).
///
/// ```
/// use otel_kit_db::{Dialect, query_summary};
///
/// assert_eq!(
///     query_summary("SELECT u.name FROM users u JOIN orders o ON o.user_id = u.id WHERE u.id = $1", Dialect::Postgres).as_deref(),
///     Some("SELECT users orders"),
/// );
/// assert_eq!(
///     query_summary("INSERT INTO shipping_details (id) SELECT id FROM orders", Dialect::Postgres).as_deref(),
///     Some("INSERT shipping_details SELECT orders"),
/// );
/// assert_eq!(query_summary("", Dialect::MySql), None);
/// ```
pub fn query_summary(sql: &str, dialect: Dialect) -> Option<String> {
    let tokens: Vec<Token> = Lexer::new(sql, dialect)
        .filter(|t| !matches!(t.kind, Kind::Space | Kind::Comment))
        .collect();
    let mut s = Summarizer {
        sql,
        tokens: &tokens,
        out: String::new(),
        full: false,
    };
    s.run();
    (!s.out.is_empty()).then_some(s.out)
}

/// Words that end a table list or cannot be an alias.
const CLAUSE_WORDS: &[&str] = &[
    "WHERE",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "OUTER",
    "CROSS",
    "NATURAL",
    "ON",
    "USING",
    "GROUP",
    "ORDER",
    "LIMIT",
    "HAVING",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "WINDOW",
    "OFFSET",
    "FETCH",
    "FOR",
    "SET",
    "VALUES",
    "RETURNING",
    "LATERAL",
    "TABLESAMPLE",
    "WITH",
    "SELECT",
    "STRAIGHT_JOIN",
    "USE",
    "FORCE",
    "IGNORE",
    "PARTITION",
    "DEFAULT",
    "WHEN",
    "THEN",
    "AS",
    "INTO",
    "FROM",
    "LOCK",
    "ONLY",
    "OVERRIDING",
    "ON",
    "DO",
    "TO",
    "STDIN",
    "STDOUT",
    "WITHOUT",
    "QUALIFY",
    "CONNECT",
    "START",
    "PROCEDURE",
    "MATCHED",
    "KEY",
    "DUPLICATE",
    "AND",
    "OR",
    "NOT",
];

/// Statements whose first keyword is their whole summary.
const STATEMENT_WORDS: &[&str] = &[
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "START",
    "SAVEPOINT",
    "RELEASE",
    "SET",
    "SHOW",
    "RESET",
    "EXPLAIN",
    "VACUUM",
    "ANALYZE",
    "GRANT",
    "REVOKE",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "LISTEN",
    "UNLISTEN",
    "NOTIFY",
    "DECLARE",
    "FETCH",
    "CLOSE",
    "DISCARD",
    "USE",
    "LOCK",
    "REFRESH",
    "CLUSTER",
    "REINDEX",
    "CHECKPOINT",
    "COMMENT",
    "DO",
    "END",
    "ABORT",
    "MOVE",
    "LOAD",
    "SECURITY",
    "REASSIGN",
    "IMPORT",
    "DESCRIBE",
    "DESC",
    "OPTIMIZE",
    "FLUSH",
    "KILL",
    "HANDLER",
    "REPAIR",
    "CHECKSUM",
    "INSTALL",
    "UNINSTALL",
    "XA",
    "RENAME",
    "VALUES",
    "TABLE",
];

/// Object kinds of DDL statements (`CREATE TABLE x`).
const OBJECT_WORDS: &[&str] = &[
    "TABLE",
    "INDEX",
    "VIEW",
    "SCHEMA",
    "DATABASE",
    "SEQUENCE",
    "FUNCTION",
    "PROCEDURE",
    "TRIGGER",
    "TYPE",
    "EXTENSION",
    "ROLE",
    "USER",
    "DOMAIN",
    "EVENT",
    "POLICY",
    "RULE",
    "SERVER",
    "COLLATION",
];

/// Modifiers between a DDL keyword and its object kind or name.
const DDL_MODIFIERS: &[&str] = &[
    "OR",
    "REPLACE",
    "IF",
    "NOT",
    "EXISTS",
    "UNIQUE",
    "TEMPORARY",
    "TEMP",
    "UNLOGGED",
    "GLOBAL",
    "LOCAL",
    "CONCURRENTLY",
    "MATERIALIZED",
    "RECURSIVE",
    "ONLY",
    "ALGORITHM",
    "DEFINER",
    "FOREIGN",
    "CASCADE",
    "RESTRICT",
    "ONLINE",
    "OFFLINE",
    "FULLTEXT",
    "SPATIAL",
];

/// Words allowed between `INSERT` / `UPDATE` / `DELETE` and the table.
const DML_MODIFIERS: &[&str] = &[
    "INTO",
    "FROM",
    "IGNORE",
    "LOW_PRIORITY",
    "HIGH_PRIORITY",
    "DELAYED",
    "QUICK",
    "ONLY",
];

struct Summarizer<'a> {
    sql: &'a str,
    tokens: &'a [Token],
    out: String,
    full: bool,
}

impl<'a> Summarizer<'a> {
    fn text(&self, i: usize) -> &'a str {
        let t = self.tokens[i];
        &self.sql[t.start..t.end]
    }

    fn kind(&self, i: usize) -> Option<Kind> {
        self.tokens.get(i).map(|t| t.kind)
    }

    fn is_word(&self, i: usize, word: &str) -> bool {
        self.kind(i) == Some(Kind::Word) && self.text(i).eq_ignore_ascii_case(word)
    }

    fn is_punct(&self, i: usize, c: &str) -> bool {
        self.kind(i) == Some(Kind::Punct) && self.text(i) == c
    }

    fn word_in(&self, i: usize, list: &[&str]) -> bool {
        self.kind(i) == Some(Kind::Word)
            && list.iter().any(|w| self.text(i).eq_ignore_ascii_case(w))
    }

    /// Appends `part` (a space before it), unless that would pass the limit:
    /// then the summary stops growing.
    fn push(&mut self, part: &str) {
        if self.full || part.is_empty() {
            return;
        }
        let extra = part.len() + usize::from(!self.out.is_empty());
        if self.out.len() + extra > MAX_SUMMARY_LEN {
            self.full = true;
            return;
        }
        if !self.out.is_empty() {
            self.out.push(' ');
        }
        self.out.push_str(part);
    }

    fn push_keyword(&mut self, i: usize) {
        let upper = self.text(i).to_ascii_uppercase();
        self.push(&upper);
    }

    /// A possibly qualified name starting at `i` (`a`, `s.t`, `"S"."T"`,
    /// `` `db`.`t` ``): its text and the index after it.
    fn name_at(&self, i: usize) -> Option<(&'a str, usize)> {
        if !matches!(self.kind(i), Some(Kind::Word | Kind::QuotedIdent)) {
            return None;
        }
        let start = self.tokens[i].start;
        let mut end_i = i;
        while self.is_punct(end_i + 1, ".")
            && matches!(self.kind(end_i + 2), Some(Kind::Word | Kind::QuotedIdent))
        {
            end_i += 2;
        }
        Some((&self.sql[start..self.tokens[end_i].end], end_i + 1))
    }

    /// Skips an alias (`AS x`, or a bare word that is not a clause keyword)
    /// at `i`.
    fn skip_alias(&self, mut i: usize) -> usize {
        if self.is_word(i, "AS") {
            i += 1;
            if matches!(self.kind(i), Some(Kind::Word | Kind::QuotedIdent)) {
                i += 1;
            }
        } else if (self.kind(i) == Some(Kind::Word) && !self.word_in(i, CLAUSE_WORDS))
            || self.kind(i) == Some(Kind::QuotedIdent)
        {
            i += 1;
        }
        i
    }

    /// A table list after `FROM` / `USING` at `i`: `a, b x, c AS y`; names
    /// followed by `(` are functions and are left out.
    fn table_list(&mut self, mut i: usize) -> usize {
        loop {
            while self.word_in(i, &["ONLY", "LATERAL"]) {
                i += 1;
            }
            let Some((name, next)) = self.name_at(i) else {
                return i;
            };
            if self.word_in(i, CLAUSE_WORDS) {
                return i;
            }
            i = next;
            if self.is_punct(i, "(") {
                // A set-returning function: not a table.
                return i;
            }
            self.push(name);
            i = self.skip_alias(i);
            if self.is_punct(i, ",") {
                i += 1;
                continue;
            }
            return i;
        }
    }

    /// One table name at `i` after skipping `modifiers`.
    fn one_table(&mut self, mut i: usize, modifiers: &[&str]) -> usize {
        while self.word_in(i, modifiers) {
            i += 1;
        }
        match self.name_at(i) {
            Some((name, next)) if !self.word_in(i, CLAUSE_WORDS) => {
                self.push(name);
                next
            }
            _ => i,
        }
    }

    fn prev_word_in(&self, i: usize, list: &[&str]) -> bool {
        i > 0 && self.word_in(i - 1, list)
    }

    fn run(&mut self) {
        // Whether each open parenthesis holds a query (its FROM is a table
        // clause) or an expression (`EXTRACT(x FROM y)`).
        let mut parens: Vec<bool> = Vec::new();
        let mut statement_start = true;
        let mut i = 0;
        while i < self.tokens.len() && !self.full {
            let at_start = std::mem::replace(&mut statement_start, false);
            match self.kind(i) {
                Some(Kind::Punct) => {
                    match self.text(i) {
                        "(" => parens.push(self.word_in(i + 1, &["SELECT", "WITH", "VALUES"])),
                        ")" => {
                            parens.pop();
                        }
                        ";" => {
                            parens.clear();
                            statement_start = true;
                        }
                        _ => {}
                    }
                    i += 1;
                    continue;
                }
                Some(Kind::Word) => {}
                _ => {
                    i += 1;
                    continue;
                }
            }
            let in_query = parens.last().copied().unwrap_or(true);
            let word = self.text(i).to_ascii_uppercase();
            i = match word.as_str() {
                "WITH" if at_start => i + 1,
                "SELECT"
                    if !(self.prev_word_in(i, &["GRANT", "REVOKE"])
                        || (i > 0 && self.is_punct(i - 1, ","))) =>
                {
                    self.push("SELECT");
                    i + 1
                }
                "FROM" | "USING" if in_query => self.table_list(i + 1),
                "JOIN" if in_query => {
                    let next = self.one_table(i + 1, &["LATERAL", "ONLY"]);
                    if self.is_punct(next, "(") {
                        next
                    } else {
                        self.skip_alias(next)
                    }
                }
                "INSERT" | "REPLACE" | "UPDATE" | "DELETE" | "MERGE" | "UPSERT"
                    if (word != "REPLACE" || at_start)
                        && !self.prev_word_in(
                            i,
                            &[
                                "DO", "THEN", "KEY", "FOR", "AFTER", "BEFORE", "OF", "OR", "GRANT",
                                "REVOKE", "NO", "INSTEAD",
                            ],
                        )
                        && !(i > 0 && self.is_punct(i - 1, ",")) =>
                {
                    self.push(&word);
                    let next = self.one_table(i + 1, DML_MODIFIERS);
                    if word == "DELETE" || word == "UPDATE" || word == "MERGE" {
                        self.skip_alias(next)
                    } else {
                        next
                    }
                }
                "COPY" | "CALL" | "EXEC" | "TRUNCATE" if at_start => {
                    self.push(&word);
                    self.one_table(i + 1, &["TABLE", "ONLY"])
                }
                "CREATE" | "DROP" | "ALTER" if at_start => self.ddl(i),
                _ if at_start && self.word_in(i, STATEMENT_WORDS) => {
                    self.push(&word);
                    i + 1
                }
                _ => i + 1,
            };
        }
    }

    /// `CREATE [OR REPLACE] [UNIQUE] TABLE [IF NOT EXISTS] name`: the
    /// keyword, the object kind and the name.
    fn ddl(&mut self, i: usize) -> usize {
        self.push_keyword(i);
        let mut j = i + 1;
        while self.word_in(j, DDL_MODIFIERS) {
            j += 1;
        }
        if !self.word_in(j, OBJECT_WORDS) {
            return j;
        }
        self.push_keyword(j);
        j += 1;
        while self.word_in(j, DDL_MODIFIERS) {
            j += 1;
        }
        match self.name_at(j) {
            Some((name, next)) if !self.word_in(j, &["ON", "AS"]) => {
                self.push(name);
                next
            }
            _ => j,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pg(sql: &str) -> Option<String> {
        query_summary(sql, Dialect::Postgres)
    }

    #[test]
    fn the_conventions_examples() {
        assert_eq!(
            pg("SELECT * FROM wuser_table where username = ?").as_deref(),
            Some("SELECT wuser_table")
        );
        assert_eq!(
            pg("INSERT INTO shipping_details (id, first_name, last_name) SELECT * FROM orders where id = ?").as_deref(),
            Some("INSERT shipping_details SELECT orders")
        );
        assert_eq!(
            pg("SELECT * FROM songs, artists WHERE songs.artist_id == artists.id").as_deref(),
            Some("SELECT songs artists")
        );
        assert_eq!(
            pg("SELECT order_date FROM (SELECT * FROM orders o JOIN customers c ON o.customer_id = c.customer_id)").as_deref(),
            Some("SELECT SELECT orders customers")
        );
    }

    #[test]
    fn statements() {
        let cases = [
            ("select id from users where id = $1", "SELECT users"),
            ("SELECT 1", "SELECT"),
            ("SELECT now()", "SELECT"),
            (
                "SELECT a FROM public.users AS u LEFT JOIN \"Orders\" o USING (id)",
                "SELECT public.users \"Orders\"",
            ),
            ("UPDATE users SET name = 'x' WHERE id = 1", "UPDATE users"),
            (
                "DELETE FROM users u WHERE id = 1 RETURNING id",
                "DELETE users",
            ),
            (
                "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2",
                "INSERT t",
            ),
            (
                "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = 2",
                "INSERT t",
            ),
            ("SELECT * FROM t FOR UPDATE", "SELECT t"),
            ("SELECT EXTRACT(YEAR FROM created) FROM t", "SELECT t"),
            ("SELECT x FROM generate_series(1, 3) x", "SELECT"),
            (
                "CREATE TABLE IF NOT EXISTS users (id int)",
                "CREATE TABLE users",
            ),
            (
                "CREATE UNIQUE INDEX CONCURRENTLY idx ON users (id)",
                "CREATE INDEX idx",
            ),
            ("DROP TABLE users", "DROP TABLE users"),
            (
                "ALTER TABLE ONLY users ADD COLUMN x int",
                "ALTER TABLE users",
            ),
            ("TRUNCATE TABLE users", "TRUNCATE users"),
            ("COPY users (id) FROM STDIN", "COPY users"),
            ("CALL refresh_all(1)", "CALL refresh_all"),
            ("BEGIN", "BEGIN"),
            ("commit", "COMMIT"),
            ("SET search_path = x", "SET"),
            ("BEGIN; UPDATE a SET x = 1; COMMIT", "BEGIN UPDATE a COMMIT"),
            (
                "WITH recent AS (SELECT * FROM orders) SELECT * FROM recent",
                "SELECT orders SELECT recent",
            ),
            (
                "SELECT a FROM x UNION ALL SELECT a FROM y",
                "SELECT x SELECT y",
            ),
            (
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET x = 1",
                "MERGE t s",
            ),
            ("/* hint */ SELECT -- c\n a FROM t", "SELECT t"),
            (
                "SELECT a FROM t1 INNER JOIN t2 ON t1.id = t2.id JOIN t3 ON true",
                "SELECT t1 t2 t3",
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(pg(sql).as_deref(), Some(want), "{sql}");
        }
        assert_eq!(
            query_summary("REPLACE INTO `db`.`t` SET a = \"x\"", Dialect::MySql).as_deref(),
            Some("REPLACE `db`.`t`")
        );
        assert_eq!(pg(""), None);
        assert_eq!(pg("  -- only a comment"), None);
        assert_eq!(pg("hello world"), None);
    }

    #[test]
    fn bounded_and_cut_at_a_word() {
        let tables: Vec<String> = (0..200).map(|i| format!("table_{i}")).collect();
        let sql = format!("SELECT * FROM {}", tables.join(", "));
        let s = pg(&sql).unwrap();
        assert!(s.len() <= MAX_SUMMARY_LEN);
        assert!(s.starts_with("SELECT table_0 table_1"));
        assert!(s.ends_with(|c: char| c.is_ascii_digit()));
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_bounded(sql in ".{0,400}") {
            for dialect in [Dialect::Postgres, Dialect::MySql] {
                if let Some(s) = query_summary(&sql, dialect) {
                    prop_assert!(s.len() <= MAX_SUMMARY_LEN);
                    prop_assert!(!s.is_empty());
                }
            }
        }

        #[test]
        fn sql_like_input_never_panics(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("SELECT"), Just("FROM"), Just("("), Just(")"), Just("'"), Just("\""),
                    Just("$$"), Just("$1"), Just("--"), Just("/*"), Just("*/"), Just(","), Just("."),
                    Just("JOIN"), Just("INSERT"), Just("INTO"), Just("t"), Just("é"), Just(";"),
                    Just("CREATE"), Just("TABLE"), Just("`"), Just("\\"), Just("E'"), Just("1.5e"),
                ],
                0..60,
            )
        ) {
            let sql = parts.join(" ");
            let glued = parts.concat();
            for dialect in [Dialect::Postgres, Dialect::MySql] {
                let _ = query_summary(&sql, dialect);
                let _ = query_summary(&glued, dialect);
            }
        }
    }
}
