use futures_util::future::BoxFuture;
use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::testing::{Capture, assert_parent};
use otel_kit_patterns::BoxError;
use otel_kit_patterns::log::{LogEntry, LogRecord, MemoryLog, SagaLog, TraceParent};
use otel_kit_patterns::retry::{Backoff, Jitter};
use otel_kit_patterns::saga::StepError;
use otel_kit_patterns::twopc::{Coordinator, Participant, TxOutcome};
use proptest::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Vote {
    Yes,
    No,
    Hang,
}

struct Db {
    name: String,
    vote: Vote,
    commit_failures: AtomicU32,
    journal: Arc<Mutex<Vec<String>>>,
}

impl Db {
    fn new(
        name: &str,
        vote: Vote,
        commit_failures: u32,
        journal: &Arc<Mutex<Vec<String>>>,
    ) -> Arc<Self> {
        Arc::new(Db {
            name: name.to_owned(),
            vote,
            commit_failures: AtomicU32::new(commit_failures),
            journal: journal.clone(),
        })
    }
    fn note(&self, what: &str) {
        self.journal
            .lock()
            .unwrap()
            .push(format!("{what} {}", self.name));
    }
}

impl Participant for Db {
    fn name(&self) -> &str {
        &self.name
    }
    fn prepare<'a>(&'a self, _tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            match self.vote {
                Vote::Yes => {
                    self.note("prepare");
                    Ok(())
                }
                Vote::No => Err(StepError::new("constraint_violation", "no").into()),
                Vote::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(())
                }
            }
        })
    }
    fn commit<'a>(&'a self, _tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            if self
                .commit_failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(StepError::new("unavailable", "later").into());
            }
            self.note("commit");
            Ok(())
        })
    }
    fn rollback<'a>(&'a self, _tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            self.note("rollback");
            Ok(())
        })
    }
}

fn backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_secs(1),
        multiplier: 2.0,
        jitter: Jitter::Full,
    }
}

#[tokio::test(start_paused = true)]
async fn commits_when_all_prepare_with_spans_per_phase_and_participant() {
    let c = Capture::new();
    let j = Arc::new(Mutex::new(Vec::new()));
    let coord = Coordinator::builder("transfer")
        .participant(Db::new("accounts", Vote::Yes, 2, &j))
        .participant(Db::new("ledger", Vote::Yes, 0, &j))
        .backoff(backoff())
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let r = coord.run_with_id("tx-1").await.unwrap();
    assert_eq!(r.outcome, TxOutcome::Committed);
    let mut got = j.lock().unwrap().clone();
    got.sort();
    assert_eq!(
        got,
        [
            "commit accounts",
            "commit ledger",
            "prepare accounts",
            "prepare ledger"
        ]
    );
    let root = c.span("tx transfer");
    root.assert_attr("tx.decision", "commit")
        .assert_attr("tx.outcome", "committed")
        .assert_attr("tx.id", "tx-1");
    let prep = c.span("tx.prepare");
    let commit = c.span("tx.commit");
    assert_parent(&prep, &root);
    assert_parent(&commit, &root);
    assert_parent(&c.span("tx.prepare ledger"), &prep);
    let ca = c.span("tx.commit accounts");
    assert_parent(&ca, &commit);
    ca.assert_attr("tx.attempts", 3i64)
        .assert_attr("tx.participant.outcome", "ok")
        .assert_event("retry.backoff");
    assert_eq!(
        coord.log().get("tx-1").await.unwrap().unwrap().0.status,
        "committed"
    );
    assert_eq!(
        c.collect_metrics()
            .sum_u64("tx.transactions")
            .value_with(&[KeyValue::new("tx.outcome", "committed")]),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_is_a_no_vote_and_rolls_everyone_back() {
    let c = Capture::new();
    let j = Arc::new(Mutex::new(Vec::new()));
    let coord = Coordinator::builder("t")
        .participant(Db::new("a", Vote::Yes, 0, &j))
        .participant(Db::new("slow", Vote::Hang, 0, &j))
        .prepare_timeout(Duration::from_secs(2))
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let r = coord.run().await.unwrap();
    assert_eq!(r.outcome, TxOutcome::RolledBack);
    assert_eq!(r.refused, [("slow".to_owned(), "timeout".to_owned())]);
    c.span("tx.prepare slow")
        .assert_error()
        .assert_attr("tx.participant.outcome", "timeout");
    c.span("tx t")
        .assert_attr("tx.decision", "rollback")
        .assert_error();
    assert!(!j.lock().unwrap().iter().any(|s| s.starts_with("commit")));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Never a commit if any prepare failed or timed out; otherwise every
    /// participant commits, exactly once.
    #[test]
    fn never_commits_unless_all_prepared(votes in proptest::collection::vec(0u8..4, 1..6),
                                         commit_failures in proptest::collection::vec(0u32..3, 6)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let c = Capture::new();
        let j = Arc::new(Mutex::new(Vec::new()));
        let mut b = Coordinator::builder("p")
            .prepare_timeout(Duration::from_secs(1))
            .backoff(backoff())
            .tracer_provider(&c.tracer_provider()).meter_provider(&c.meter_provider());
        let votes: Vec<Vote> = votes.iter().map(|v| match v { 0 => Vote::No, 1 => Vote::Hang, _ => Vote::Yes }).collect();
        for (i, v) in votes.iter().enumerate() {
            b = b.participant(Db::new(&format!("p{i}"), *v, commit_failures[i], &j));
        }
        let coord = b.build();
        let r = rt.block_on(coord.run()).unwrap();
        let journal = j.lock().unwrap().clone();
        let all_yes = votes.iter().all(|v| matches!(v, Vote::Yes));
        let commits = journal.iter().filter(|s| s.starts_with("commit")).count();
        let rollbacks = journal.iter().filter(|s| s.starts_with("rollback")).count();
        if all_yes {
            prop_assert_eq!(r.outcome, TxOutcome::Committed);
            prop_assert_eq!(commits, votes.len());
            prop_assert_eq!(rollbacks, 0);
        } else {
            prop_assert_eq!(r.outcome, TxOutcome::RolledBack);
            prop_assert_eq!(commits, 0);
            prop_assert_eq!(rollbacks, votes.len());
            prop_assert_eq!(r.refused.len(), votes.iter().filter(|v| !matches!(v, Vote::Yes)).count());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn coordinator_restart_recovers_in_doubt_transactions() {
    let c = Capture::new();
    let j = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::new(MemoryLog::new());
    let rec = |id: &str, status: &str| LogRecord {
        id: id.into(),
        kind: "2pc".into(),
        name: "transfer".into(),
        payload: "null".into(),
        status: status.to_owned().into(),
        span: TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    };
    let entries = |a: &str, b: &str| {
        vec![
            LogEntry {
                index: 0,
                name: "accounts".into(),
                state: a.to_owned().into(),
                span: None,
                error: None,
            },
            LogEntry {
                index: 1,
                name: "ledger".into(),
                state: b.to_owned().into(),
                span: None,
                error: None,
            },
        ]
    };
    // Crashed after the commit decision, one participant already committed.
    log.create(&rec("t1", "committing"), &entries("committed", "prepared"))
        .await
        .unwrap();
    // Crashed during prepare: no decision, so presumed abort.
    log.create(&rec("t2", "preparing"), &entries("prepared", "pending"))
        .await
        .unwrap();
    // Finished ones are left alone.
    log.create(&rec("t3", "committed"), &entries("committed", "committed"))
        .await
        .unwrap();

    let coord = Coordinator::builder("transfer")
        .participant(Db::new("accounts", Vote::Yes, 0, &j))
        .participant(Db::new("ledger", Vote::Yes, 1, &j))
        .backoff(backoff())
        .log(log.clone())
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let reports = coord.recover().await.unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(
        (reports[0].id.as_str(), reports[0].outcome),
        ("t1", TxOutcome::Committed)
    );
    assert_eq!(
        (reports[1].id.as_str(), reports[1].outcome),
        ("t2", TxOutcome::RolledBack)
    );
    assert_eq!(
        *j.lock().unwrap(),
        ["commit ledger", "rollback accounts", "rollback ledger"]
    );
    assert_eq!(log.get("t1").await.unwrap().unwrap().0.status, "committed");
    assert_eq!(
        log.get("t2").await.unwrap().unwrap().0.status,
        "rolled_back"
    );
    let roots = c.spans_named("tx transfer");
    assert!(
        roots
            .iter()
            .all(|r| r.links().len() == 1 && r.attr_bool("tx.recovered") == Some(true))
    );
    assert!(coord.recover().await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn phase_two_gives_up_as_in_doubt_then_recovery_finishes() {
    let c = Capture::new();
    let j = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::new(MemoryLog::new());
    let coord = Coordinator::builder("x")
        .participant(Db::new("a", Vote::Yes, 5, &j))
        .phase_two_attempts(2)
        .backoff(backoff())
        .log(log.clone())
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let r = coord.run_with_id("t").await.unwrap();
    assert_eq!(r.outcome, TxOutcome::InDoubt);
    assert_eq!(log.get("t").await.unwrap().unwrap().0.status, "committing");
    let r = coord.recover().await.unwrap(); // 2 more failures
    assert_eq!(r[0].outcome, TxOutcome::InDoubt);
    let r = coord.recover().await.unwrap(); // 1 failure, then success
    assert_eq!(r[0].outcome, TxOutcome::Committed);
    assert_eq!(*j.lock().unwrap(), ["prepare a", "commit a"]);
}

/// Two `recover()` calls at once over one log: each transaction is claimed
/// by one of them, so every participant commits each transaction once.
#[tokio::test(start_paused = true)]
async fn concurrent_recoveries_finish_each_transaction_once() {
    const N: usize = 4;
    let j = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::new(MemoryLog::new());
    for i in 0..N {
        let rec = LogRecord {
            id: format!("t{i}"),
            kind: "2pc".into(),
            name: "transfer".into(),
            payload: "null".into(),
            status: "committing".into(),
            span: None,
        };
        let entry = |index: u32, name: &str| LogEntry {
            index,
            name: name.into(),
            state: "prepared".into(),
            span: None,
            error: None,
        };
        log.create(&rec, &[entry(0, "accounts"), entry(1, "ledger")])
            .await
            .unwrap();
    }
    // The ledger's first commits fail, so a recovery waits (backs off) in
    // the middle of a transaction and the other one runs meanwhile.
    let coord = Coordinator::builder("transfer")
        .participant(Db::new("accounts", Vote::Yes, 0, &j))
        .participant(Db::new("ledger", Vote::Yes, N as u32, &j))
        .phase_two_attempts(2 * N as u32 + 2)
        .backoff(backoff())
        .log(log.clone())
        .build();
    let (a, b) = tokio::join!(coord.recover(), coord.recover());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), N, "{a:?} {b:?}");
    assert!(
        a.iter()
            .chain(&b)
            .all(|r| r.outcome == TxOutcome::Committed)
    );
    let journal = j.lock().unwrap().clone();
    for p in ["accounts", "ledger"] {
        let commits = journal
            .iter()
            .filter(|s| *s == &format!("commit {p}"))
            .count();
        assert_eq!(commits, N, "{p}: {journal:?}");
    }
    assert!(coord.recover().await.unwrap().is_empty());
}
