//! What a Redis command or pipeline is called (`db.operation.name`) and
//! its recorded text (`db.query.text`: the command name and one `?` per
//! argument).

use std::borrow::Cow;

use otel_kit_core::instrument::OTHER;
use redis::{Arg, Cmd, Pipeline};

/// Command names known without an allocation (the commands most programs
/// send); other names are upper-cased per call.
const KNOWN: &[&str] = &[
    "GET",
    "SET",
    "DEL",
    "EXISTS",
    "EXPIRE",
    "PEXPIRE",
    "TTL",
    "PTTL",
    "INCR",
    "INCRBY",
    "DECR",
    "DECRBY",
    "MGET",
    "MSET",
    "SETEX",
    "SETNX",
    "GETSET",
    "GETDEL",
    "GETEX",
    "APPEND",
    "STRLEN",
    "HGET",
    "HSET",
    "HMGET",
    "HMSET",
    "HDEL",
    "HGETALL",
    "HINCRBY",
    "HEXISTS",
    "HKEYS",
    "HVALS",
    "HLEN",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "LRANGE",
    "LLEN",
    "LREM",
    "LTRIM",
    "BLPOP",
    "BRPOP",
    "SADD",
    "SREM",
    "SMEMBERS",
    "SISMEMBER",
    "SCARD",
    "ZADD",
    "ZREM",
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZSCORE",
    "ZINCRBY",
    "ZCARD",
    "ZRANK",
    "ZREVRANGE",
    "SCAN",
    "KEYS",
    "PUBLISH",
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "UNSUBSCRIBE",
    "XADD",
    "XREAD",
    "XREADGROUP",
    "XACK",
    "XRANGE",
    "XLEN",
    "EVAL",
    "EVALSHA",
    "SCRIPT",
    "MULTI",
    "EXEC",
    "DISCARD",
    "WATCH",
    "UNWATCH",
    "PING",
    "ECHO",
    "SELECT",
    "FLUSHDB",
    "FLUSHALL",
    "INFO",
    "CLIENT",
    "CONFIG",
    "HELLO",
    "AUTH",
    "TYPE",
    "RENAME",
    "UNLINK",
    "PERSIST",
    "EXPIREAT",
    "OBJECT",
    "DBSIZE",
    "TIME",
];

/// The longest command name kept; longer or non-alphanumeric first
/// arguments are `_OTHER` (the name is low-cardinality by contract).
const MAX_NAME_LEN: usize = 32;

/// `db.operation.name` of `cmd`: its first argument, upper-cased.
pub(crate) fn command_name(cmd: &Cmd) -> Cow<'static, str> {
    let Some(Arg::Simple(first)) = cmd.args_iter().next() else {
        return Cow::Borrowed(OTHER);
    };
    name_of(first)
}

fn name_of(first: &[u8]) -> Cow<'static, str> {
    if let Some(known) = KNOWN
        .iter()
        .find(|k| k.as_bytes().eq_ignore_ascii_case(first))
    {
        return Cow::Borrowed(known);
    }
    if first.is_empty()
        || first.len() > MAX_NAME_LEN
        || !first
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
    {
        return Cow::Borrowed(OTHER);
    }
    Cow::Owned(String::from_utf8_lossy(first).to_ascii_uppercase())
}

/// `db.query.text` of `cmd`: `SET ? ?`.
pub(crate) fn command_text(cmd: &Cmd) -> String {
    let name = command_name(cmd);
    let args = cmd.args_iter().len().saturating_sub(1);
    let mut text = String::with_capacity(name.len() + 2 * args);
    text.push_str(&name);
    for _ in 0..args {
        text.push_str(" ?");
    }
    text
}

/// `db.operation.name` of a pipeline of 2 or more commands: `BATCH GET`
/// when every command is a `GET`, else `BATCH` (the conventions' batch
/// rule); the only command's name for a pipeline of one.
pub(crate) fn pipeline_name(pipeline: &Pipeline) -> Cow<'static, str> {
    let mut names = pipeline.cmd_iter().map(command_name);
    let Some(first) = names.next() else {
        return Cow::Borrowed("BATCH");
    };
    let mut count = 1;
    let mut same = true;
    for name in names {
        count += 1;
        same &= name == first;
    }
    match (count, same) {
        (1, _) => first,
        (_, true) => Cow::Owned(format!("BATCH {first}")),
        (_, false) => Cow::Borrowed("BATCH"),
    }
}

/// `db.query.text` of a pipeline: the commands' texts joined with `; `
/// (one text when they are all the same).
pub(crate) fn pipeline_text(pipeline: &Pipeline) -> String {
    let texts: Vec<String> = pipeline.cmd_iter().map(command_text).collect();
    if texts.windows(2).all(|w| w[0] == w[1]) {
        texts.into_iter().next().unwrap_or_default()
    } else {
        texts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_first_argument_names_a_bounded_ascii_command(first in proptest::collection::vec(any::<u8>(), 0..64)) {
            let name = name_of(&first);
            prop_assert!(name.len() <= MAX_NAME_LEN);
            prop_assert!(name.is_ascii());
        }
    }

    #[test]
    fn names_and_texts() {
        let mut set = redis::cmd("set");
        set.arg("user:1").arg("ann");
        assert_eq!(command_name(&set), "SET");
        assert!(matches!(command_name(&set), Cow::Borrowed(_)));
        assert_eq!(command_text(&set), "SET ? ?");
        assert_eq!(command_name(&redis::cmd("json.get")), "JSON.GET");
        assert_eq!(command_name(&redis::cmd("bad name")), OTHER);
        assert_eq!(command_name(&redis::cmd(&"X".repeat(40))), OTHER);

        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg("a").cmd("GET").arg("b");
        assert_eq!(pipeline_name(&pipe), "BATCH GET");
        assert_eq!(pipeline_text(&pipe), "GET ?");
        pipe.cmd("EXPIRE").arg("a").arg(10);
        assert_eq!(pipeline_name(&pipe), "BATCH");
        assert_eq!(pipeline_text(&pipe), "GET ?; GET ?; EXPIRE ? ?");
        let mut one = redis::pipe();
        one.cmd("PING");
        assert_eq!(pipeline_name(&one), "PING");
    }
}
