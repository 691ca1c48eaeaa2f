//! A SQL lexer just deep enough for the query summary and the sanitizer:
//! words, quoted identifiers, literals, parameters, comments and
//! punctuation, in the quoting rules of PostgreSQL or MySQL.
//!
//! It never fails and never panics: an unterminated string or comment runs
//! to the end of the text, and every byte of the input belongs to exactly
//! one token (tokens split only at ASCII bytes, so every token is valid
//! UTF-8 slice of the input).

/// Which quoting rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL: `"identifier"`, `'string'` (`''` escapes), `E'\n'`,
    /// `$tag$ ... $tag$`, `$1` parameters, nested `/* */` comments.
    Postgres,
    /// MySQL and MariaDB: `` `identifier` ``, `'string'` and `"string"`
    /// (backslash and doubled-quote escapes), `?` parameters, `#` comments.
    MySql,
}

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A bare word: keyword or identifier.
    Word,
    /// A quoted identifier (`"Users"`, `` `users` ``).
    QuotedIdent,
    /// A string literal, prefix included (`'x'`, `E'x'`, `X'ff'`, `$$x$$`).
    Str,
    /// A numeric literal (`42`, `1.5e3`, `0xff`).
    Number,
    /// A bind parameter (`$1`, `?`).
    Param,
    /// A comment (`-- x`, `/* x */`, `# x`).
    Comment,
    /// Spaces, tabs, newlines.
    Space,
    /// Any other single character (`(`, `,`, `;`, `.`, operators).
    Punct,
}

/// One token: its kind and its byte range in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// The tokens of `sql`, in order.
pub(crate) struct Lexer<'a> {
    sql: &'a [u8],
    pos: usize,
    dialect: Dialect,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(sql: &'a str, dialect: Dialect) -> Self {
        Lexer {
            sql: sql.as_bytes(),
            pos: 0,
            dialect,
        }
    }

    fn peek(&self, at: usize) -> Option<u8> {
        self.sql.get(at).copied()
    }

    /// Index just past the quote that closes a string opened at `from`
    /// (the byte after the opening quote), or the end of the input.
    fn close_quote(&self, from: usize, quote: u8, backslash: bool) -> usize {
        let mut i = from;
        while i < self.sql.len() {
            let b = self.sql[i];
            if backslash && b == b'\\' {
                i += 2;
                continue;
            }
            if b == quote {
                if self.peek(i + 1) == Some(quote) {
                    i += 2;
                    continue;
                }
                return i + 1;
            }
            i += 1;
        }
        self.sql.len()
    }

    /// `$tag$` at `at` (PostgreSQL dollar quoting): the index after the
    /// opening tag and the tag's length, if one starts there.
    fn dollar_tag(&self, at: usize) -> Option<usize> {
        let mut i = at + 1;
        while let Some(b) = self.peek(i) {
            if b == b'$' {
                return Some(i + 1 - at);
            }
            let ok = b == b'_'
                || b.is_ascii_alphabetic()
                || b >= 0x80
                || (i > at + 1 && b.is_ascii_digit());
            if !ok {
                return None;
            }
            i += 1;
        }
        None
    }

    fn dollar_string_end(&self, at: usize, tag_len: usize) -> usize {
        let tag = &self.sql[at..at + tag_len];
        let body = at + tag_len;
        self.sql[body..]
            .windows(tag_len)
            .position(|w| w == tag)
            .map_or(self.sql.len(), |p| body + p + tag_len)
    }

    fn word_end(&self, from: usize) -> usize {
        let mut i = from;
        while let Some(b) = self.peek(i) {
            let ok = b == b'_'
                || b.is_ascii_alphanumeric()
                || b >= 0x80
                || (b == b'$' && self.dialect == Dialect::MySql)
                || (b == b'$' && i > from);
            if !ok {
                break;
            }
            i += 1;
        }
        i
    }

    fn number_end(&self, from: usize) -> usize {
        let s = self.sql;
        let mut i = from;
        if s[i] == b'0'
            && matches!(
                self.peek(i + 1),
                Some(b'x' | b'X' | b'b' | b'B' | b'o' | b'O')
            )
        {
            i += 2;
            while self
                .peek(i)
                .is_some_and(|b| b.is_ascii_hexdigit() || b == b'_')
            {
                i += 1;
            }
            return i;
        }
        while self
            .peek(i)
            .is_some_and(|b| b.is_ascii_digit() || b == b'_')
        {
            i += 1;
        }
        if self.peek(i) == Some(b'.') {
            i += 1;
            while self.peek(i).is_some_and(|b| b.is_ascii_digit()) {
                i += 1;
            }
        }
        if matches!(self.peek(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(self.peek(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if self.peek(j).is_some_and(|b| b.is_ascii_digit()) {
                i = j;
                while self.peek(i).is_some_and(|b| b.is_ascii_digit()) {
                    i += 1;
                }
            }
        }
        i
    }

    fn block_comment_end(&self, from: usize) -> usize {
        let nested = self.dialect == Dialect::Postgres;
        let mut depth = 1usize;
        let mut i = from + 2;
        while i < self.sql.len() {
            match (self.sql[i], self.peek(i + 1)) {
                (b'*', Some(b'/')) => {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        return i;
                    }
                }
                (b'/', Some(b'*')) if nested => {
                    depth += 1;
                    i += 2;
                }
                _ => i += 1,
            }
        }
        self.sql.len()
    }

    fn line_end(&self, from: usize) -> usize {
        self.sql[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.sql.len(), |p| from + p)
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let start = self.pos;
        let b = *self.sql.get(start)?;
        let next = self.peek(start + 1);
        let mysql = self.dialect == Dialect::MySql;
        let (kind, end) = match b {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                let mut i = start + 1;
                while self.peek(i).is_some_and(|b| b.is_ascii_whitespace()) {
                    i += 1;
                }
                (Kind::Space, i)
            }
            b'-' if next == Some(b'-') => (Kind::Comment, self.line_end(start)),
            b'#' if mysql => (Kind::Comment, self.line_end(start)),
            b'/' if next == Some(b'*') => (Kind::Comment, self.block_comment_end(start)),
            b'\'' => (Kind::Str, self.close_quote(start + 1, b'\'', mysql)),
            b'"' if mysql => (Kind::Str, self.close_quote(start + 1, b'"', true)),
            b'"' => (Kind::QuotedIdent, self.close_quote(start + 1, b'"', false)),
            b'`' if mysql => (Kind::QuotedIdent, self.close_quote(start + 1, b'`', false)),
            b'?' => (Kind::Param, start + 1),
            b'$' if !mysql && next.is_some_and(|b| b.is_ascii_digit()) => {
                let mut i = start + 1;
                while self.peek(i).is_some_and(|b| b.is_ascii_digit()) {
                    i += 1;
                }
                (Kind::Param, i)
            }
            b'$' if !mysql => match self.dollar_tag(start) {
                Some(tag_len) => (Kind::Str, self.dollar_string_end(start, tag_len)),
                None => (Kind::Punct, start + 1),
            },
            b'0'..=b'9' => (Kind::Number, self.number_end(start)),
            b'.' if next.is_some_and(|b| b.is_ascii_digit()) => {
                (Kind::Number, self.number_end(start))
            }
            b if b == b'_' || b.is_ascii_alphabetic() || b >= 0x80 => {
                let end = self.word_end(start);
                // A short prefix glued to a quote is part of a string
                // literal: E'..', X'..', B'..', N'..', _utf8mb4'..'.
                if end - start <= 8 && self.peek(end) == Some(b'\'') {
                    let backslash = mysql || matches!(&self.sql[start..end], [b'e' | b'E']);
                    (Kind::Str, self.close_quote(end + 1, b'\'', backslash))
                } else {
                    (Kind::Word, end)
                }
            }
            _ => {
                // One character; a multi-byte UTF-8 character never gets
                // here (bytes >= 0x80 are word bytes).
                (Kind::Punct, start + 1)
            }
        };
        let end = end.clamp(start + 1, self.sql.len());
        self.pos = end;
        Some(Token { kind, start, end })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str, dialect: Dialect) -> Vec<(Kind, &str)> {
        Lexer::new(sql, dialect)
            .filter(|t| t.kind != Kind::Space)
            .map(|t| (t.kind, &sql[t.start..t.end]))
            .collect()
    }

    #[test]
    fn postgres_tokens() {
        assert_eq!(
            kinds(
                "SELECT \"A\".x, 'it''s', E'a\\'b', $1, $q$ x $q$, 1.5e3 /* c /* n */ */ -- t\n;",
                Dialect::Postgres
            ),
            vec![
                (Kind::Word, "SELECT"),
                (Kind::QuotedIdent, "\"A\""),
                (Kind::Punct, "."),
                (Kind::Word, "x"),
                (Kind::Punct, ","),
                (Kind::Str, "'it''s'"),
                (Kind::Punct, ","),
                (Kind::Str, "E'a\\'b'"),
                (Kind::Punct, ","),
                (Kind::Param, "$1"),
                (Kind::Punct, ","),
                (Kind::Str, "$q$ x $q$"),
                (Kind::Punct, ","),
                (Kind::Number, "1.5e3"),
                (Kind::Comment, "/* c /* n */ */"),
                (Kind::Comment, "-- t"),
                (Kind::Punct, ";"),
            ]
        );
    }

    #[test]
    fn mysql_tokens() {
        assert_eq!(
            kinds(
                "SELECT `t`.a FROM t WHERE b = \"x\\\"y\" # c",
                Dialect::MySql
            ),
            vec![
                (Kind::Word, "SELECT"),
                (Kind::QuotedIdent, "`t`"),
                (Kind::Punct, "."),
                (Kind::Word, "a"),
                (Kind::Word, "FROM"),
                (Kind::Word, "t"),
                (Kind::Word, "WHERE"),
                (Kind::Word, "b"),
                (Kind::Punct, "="),
                (Kind::Str, "\"x\\\"y\""),
                (Kind::Comment, "# c"),
            ]
        );
    }

    #[test]
    fn unterminated_runs_to_the_end_and_covers_every_byte() {
        for sql in ["SELECT 'abc", "/* x", "$a$ never", "\"ident", "é'", "x'\\"] {
            for dialect in [Dialect::Postgres, Dialect::MySql] {
                let tokens: Vec<_> = Lexer::new(sql, dialect).collect();
                let mut at = 0;
                for t in &tokens {
                    assert_eq!(t.start, at);
                    assert!(sql.is_char_boundary(t.end));
                    at = t.end;
                }
                assert_eq!(at, sql.len());
            }
        }
    }
}
