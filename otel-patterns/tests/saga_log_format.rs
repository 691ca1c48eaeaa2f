//! Logs written in the stored format of earlier versions (states as the
//! literal strings `running`, `compensating`, `done`, `started`, ...)
//! recover unchanged, from the in-memory log and from PostgreSQL rows
//! inserted with plain SQL.

use otel_kit_patterns::log::{LogEntry, LogRecord, MemoryLog, SagaLog};
use otel_kit_patterns::saga::{Saga, SagaOutcome, SagaStatus, Step, StepContext, StepState};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

type Journal = Arc<Mutex<Vec<String>>>;

/// One logged instance of saga "order" (steps `a`, `b`, `c`): id, status,
/// and each step's state and `error`, as a crashed process left them.
type Logged = (
    &'static str,
    &'static str,
    [(&'static str, Option<&'static str>); 3],
);

/// The fixture, in the stored strings.
const LOGGED: &[Logged] = &[
    // Died while `b` ran: `b` is in doubt, compensated with `a`.
    (
        "r1",
        "running",
        [("done", None), ("started", None), ("pending", None)],
    ),
    // Died between steps: the forward run goes on.
    (
        "r2",
        "running",
        [("done", None), ("pending", None), ("pending", None)],
    ),
    // Died while compensating `b` after `c` failed.
    (
        "c1",
        "compensating",
        [
            ("done", None),
            ("compensating", None),
            ("failed", Some("declined")),
        ],
    ),
    // `b` timed out (in doubt), compensation had not started.
    (
        "c2",
        "compensating",
        [
            ("done", None),
            ("in_doubt", Some("timeout")),
            ("pending", None),
        ],
    ),
    // `b`'s compensation ran out of retries: left for `resume_stuck`.
    (
        "s1",
        "stuck",
        [
            ("done", None),
            ("compensation_failed", Some("unavailable")),
            ("failed", Some("declined")),
        ],
    ),
    // Finished: recovery leaves it.
    (
        "f1",
        "completed",
        [("done", None), ("done", None), ("done", None)],
    ),
];

fn records() -> Vec<(LogRecord, Vec<LogEntry>)> {
    LOGGED
        .iter()
        .map(|(id, status, steps)| {
            let rec = LogRecord {
                id: (*id).to_owned(),
                kind: Cow::Owned("saga".to_owned()),
                name: "order".to_owned(),
                payload: "\"x\"".to_owned(),
                // Owned, as a log reading storage back gives them.
                status: Cow::Owned((*status).to_owned()),
                span: None,
            };
            let entries = ["a", "b", "c"]
                .into_iter()
                .zip(steps)
                .enumerate()
                .map(|(index, (name, (state, error)))| LogEntry {
                    index: index as u32,
                    name: name.into(),
                    state: Cow::Owned((*state).to_owned()),
                    span: None,
                    error: error.map(str::to_owned),
                })
                .collect();
            (rec, entries)
        })
        .collect()
}

fn saga(log: Arc<dyn SagaLog>, j: &Journal) -> Saga<String> {
    let effect = |what: &'static str| {
        let j = j.clone();
        move |cx: StepContext<String>| {
            let j = j.clone();
            async move {
                j.lock().unwrap().push(format!("{what} {}", cx.saga_id));
                Ok(())
            }
        }
    };
    let mut b = Saga::<String>::builder("order").log(log);
    for (step, undo) in [("do a", "undo a"), ("do b", "undo b"), ("do c", "undo c")] {
        b = b.step(Step::new(&step[3..], effect(step)).compensate_with(effect(undo)));
    }
    b.build()
}

/// Recovers the fixture from `log` and checks every effect, outcome and
/// stored state.
async fn recovers_the_fixture(log: Arc<dyn SagaLog>) {
    let j: Journal = Arc::default();
    let saga = saga(log.clone(), &j);
    let mut reports = saga.recover().await.unwrap();
    reports.sort_by(|a, b| a.id.cmp(&b.id));
    let outcomes: Vec<_> = reports
        .iter()
        .map(|r| (r.id.as_str(), r.outcome.clone()))
        .collect();
    let compensated = |step: &str, error_type: &str| SagaOutcome::Compensated {
        failed_step: step.to_owned(),
        error_type: error_type.to_owned(),
    };
    assert_eq!(
        outcomes,
        [
            ("c1", compensated("c", "declined")),
            ("c2", compensated("b", "timeout")),
            ("r1", compensated("b", "process_restart")),
            ("r2", SagaOutcome::Completed),
        ]
    );
    // The stuck one is listed, then resumed on demand.
    let stuck: Vec<_> = saga.stuck().await.unwrap();
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].id, "s1");
    let s1 = saga.resume_stuck("s1").await.unwrap();
    // The trigger read back is the step that failed (`c`), not `b`, whose
    // compensation failed and which carries an error too.
    assert_eq!(s1.outcome, compensated("c", "declined"));

    let mut journal = j.lock().unwrap().clone();
    journal.sort();
    let mut expected = vec![
        "undo b c1",
        "undo a c1", // c1
        "undo b c2",
        "undo a c2", // c2
        "undo b r1",
        "undo a r1", // r1
        "do b r2",
        "do c r2", // r2
        "undo b s1",
        "undo a s1", // s1
    ];
    expected.sort();
    assert_eq!(journal, expected);

    // What is stored now is still the same strings.
    let stored = |id: &'static str| {
        let log = log.clone();
        async move {
            let (rec, entries) = log.get(id).await.unwrap().unwrap();
            let states: Vec<String> = entries.iter().map(|e| e.state.to_string()).collect();
            (rec.status.to_string(), states)
        }
    };
    let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        stored("r1").await,
        (
            "compensated".to_owned(),
            s(&["compensated", "compensated", "pending"])
        )
    );
    assert_eq!(
        stored("r2").await,
        ("completed".to_owned(), s(&["done", "done", "done"]))
    );
    assert_eq!(
        stored("c1").await,
        (
            "compensated".to_owned(),
            s(&["compensated", "compensated", "failed"])
        )
    );
    assert_eq!(
        stored("s1").await,
        (
            "compensated".to_owned(),
            s(&["compensated", "compensated", "failed"])
        )
    );
    assert_eq!(
        stored("f1").await,
        ("completed".to_owned(), s(&["done", "done", "done"]))
    );
    // The enums read every stored string back.
    for (_, status, steps) in LOGGED {
        assert!(SagaStatus::parse(status).is_some(), "{status}");
        for (state, _) in steps {
            assert!(StepState::parse(state).is_some(), "{state}");
        }
    }
    // Nothing left open.
    assert!(saga.recover().await.unwrap().is_empty());
}

#[tokio::test]
async fn memory_log_in_the_stored_format_recovers() {
    let log = Arc::new(MemoryLog::new());
    for (rec, entries) in records() {
        log.create(&rec, &entries).await.unwrap();
    }
    recovers_the_fixture(log).await;
}

/// A state no saga writes is a log error naming it, not a guess.
#[tokio::test]
async fn an_unknown_stored_state_is_a_log_error() {
    let log = Arc::new(MemoryLog::new());
    let (rec, mut entries) = records().swap_remove(0);
    entries[1].state = Cow::Owned("half_done".to_owned());
    log.create(&rec, &entries).await.unwrap();
    let j: Journal = Arc::default();
    let err = saga(log, &j).recover().await.unwrap_err();
    assert!(err.to_string().contains("half_done"), "{err}");
    assert!(j.lock().unwrap().is_empty());
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_rows_in_the_stored_format_recover() {
    use otel_kit_patterns::log::PostgresLog;
    let url = std::env::var("OTEL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("otel_patterns_{}", uuid::Uuid::new_v4().simple());
    let log = Arc::new(PostgresLog::connect(&url, &schema).await.unwrap());
    // Rows as the PostgresLog of earlier versions wrote them: plain SQL,
    // the states as literal text.
    for (rec, entries) in records() {
        log.client()
            .execute(
                &format!(
                    "INSERT INTO \"{schema}\".records (id, kind, name, payload, status, span)
                     VALUES ($1, 'saga', 'order', $2, $3, NULL)"
                ),
                &[&rec.id, &rec.payload, &&*rec.status],
            )
            .await
            .unwrap();
        for e in &entries {
            log.client()
                .execute(
                    &format!(
                        "INSERT INTO \"{schema}\".entries (record_id, idx, name, state, span, error)
                         VALUES ($1, $2, $3, $4, NULL, $5)"
                    ),
                    &[&rec.id, &(e.index as i32), &&*e.name, &&*e.state, &e.error],
                )
                .await
                .unwrap();
        }
    }
    recovers_the_fixture(log.clone()).await;
    log.drop_schema().await.unwrap();
}
