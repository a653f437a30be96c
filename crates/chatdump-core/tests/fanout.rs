//! Several outputs in one run: each is written on a thread of its own, every one is given the
//! same messages in the same order as a single output would be, and a failing one is named and
//! stops the run with no output finished.

use std::thread::{self, ThreadId};
use std::time::Duration;

use chatdump_core::export::{
    self, ExportContext, ExportError, Exporter, IgnoreObserver, Outcome, Output, RunError,
    RunOptions, Summary,
};
use chatdump_core::model::Message;
use chatdump_core::order::{OrderOptions, Strategy};
use chatdump_core::reader::{ChatReader, ReaderOptions};

const HEADER: &str = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt";

/// A dump of `records` records spanning several hand-over batches: every tenth pair swapped
/// (out of order within the reorder window), every 97th record repeated (an identical
/// duplicate), and all three payload types.
fn dump(records: usize) -> String {
    let mut lines = vec![HEADER.to_owned()];
    let mut index: usize = 0;
    while lines.len() <= records {
        let line = |i: usize| {
            let (kind, payload) = match i % 3 {
                0 => ("TEXT_MESSAGE", format!("hello {i}")),
                1 => (
                    "IMAGE_MESSAGE",
                    format!("\"{{\"\"link\"\":\"\"https://example.com/{i}.png\"\"}}\""),
                ),
                _ => (
                    "FILE_MESSAGE",
                    format!(
                        "\"{{\"\"link\"\":\"\"https://example.com/{i}.pdf\"\",\"\"name\"\":\"\"f{i}.pdf\"\",\"\"size\"\":{i}}}\""
                    ),
                ),
            };
            format!(
                "m{i},p{},s1,mt1,Person {},false,false,{kind},{payload},2024-05-14T{:02}:{:02}:{:02}.{:03}Z",
                i % 7,
                i % 7,
                9 + i / 3600,
                i / 60 % 60,
                i % 60,
                i % 1000
            )
        };
        if index.is_multiple_of(10) {
            lines.push(line(index + 1));
            lines.push(line(index));
        } else {
            lines.push(line(index));
            lines.push(line(index + 1));
        }
        if index.is_multiple_of(97) {
            lines.push(line(index + 1));
        }
        index += 2;
    }
    lines.join("\n")
}

/// What an exporter was given, and where.
#[derive(Debug, Default)]
struct Seen {
    messages: Vec<Message>,
    threads: Vec<ThreadId>,
    finished: bool,
}

/// Records what it is given; fails at message `fail_at` (from 0), or in `finish` when
/// `fail_at` is the number of messages.
struct Collect<'s> {
    seen: &'s mut Seen,
    fail_at: Option<usize>,
}

impl Collect<'_> {
    fn fail_now(&self) -> Result<(), ExportError> {
        if self.fail_at == Some(self.seen.messages.len()) {
            // Fail late: by then the other outputs are done with every message they were
            // given, so a run that finished them before hearing from this one is caught.
            thread::sleep(Duration::from_millis(50));
            return Err(ExportError::format("the disk caught fire"));
        }
        Ok(())
    }
}

impl Exporter for Collect<'_> {
    fn begin(&mut self, _context: &ExportContext) -> Result<(), ExportError> {
        Ok(())
    }
    fn message(&mut self, message: &Message) -> Result<(), ExportError> {
        self.fail_now()?;
        self.seen.threads.push(thread::current().id());
        self.seen.messages.push(message.clone());
        Ok(())
    }
    fn finish(&mut self) -> Result<(), ExportError> {
        self.fail_now()?;
        self.seen.threads.push(thread::current().id());
        self.seen.finished = true;
        Ok(())
    }
}

/// Runs `input` into one collector per entry of `fail_at` (named `out0`, `out1`, ...).
fn run(
    input: &str,
    strategy: Strategy,
    fail_at: &[Option<usize>],
) -> (Result<Outcome, RunError>, Vec<Seen>) {
    let mut seen: Vec<Seen> = fail_at.iter().map(|_| Seen::default()).collect();
    let mut outputs: Vec<Output<'_>> = seen
        .iter_mut()
        .zip(fail_at)
        .enumerate()
        .map(|(index, (seen, &fail_at))| Output {
            name: format!("out{index}"),
            exporter: Box::new(Collect { seen, fail_at }),
        })
        .collect();
    let reader = ChatReader::new(input.as_bytes(), "dump.csv", ReaderOptions::default()).unwrap();
    let options = RunOptions {
        strategy: Some(strategy),
        // Small enough that the external sort spills several runs.
        order: OrderOptions {
            memory_budget: 256 << 10,
            ..OrderOptions::default()
        },
        ..RunOptions::default()
    };
    let outcome = export::run(
        reader,
        &ExportContext::default(),
        &mut outputs,
        &mut IgnoreObserver,
        &options,
    );
    drop(outputs);
    (outcome, seen)
}

/// The summary of a run that finished.
fn done(outcome: Result<Outcome, RunError>) -> Summary {
    match outcome {
        Ok(Outcome::Done(summary)) => summary,
        other => panic!("{other:?}"),
    }
}

#[test]
fn several_outputs_are_given_the_same_messages_as_one_alone() {
    let input = dump(5_000);
    for strategy in [Strategy::Window, Strategy::External] {
        let (alone, single) = run(&input, strategy, &[None]);
        let alone = done(alone);
        let single = &single[0];
        assert_eq!(alone.messages, single.messages.len() as u64);
        assert!(alone.duplicates > 20, "{alone:?}");
        assert_eq!(
            alone.spilled_runs > 0,
            strategy == Strategy::External,
            "{alone:?}"
        );
        assert!(single.finished);
        let (together, several) = run(&input, strategy, &[None, None, None]);
        assert_eq!(done(together), alone);
        for seen in several {
            assert!(seen.finished);
            assert_eq!(seen.messages.len(), single.messages.len());
            assert!(seen.messages == single.messages, "{strategy:?}");
        }
    }
}

#[test]
fn several_outputs_are_each_written_on_a_thread_of_their_own() {
    let input = dump(3_000);
    let caller = thread::current().id();
    let (outcome, one) = run(&input, Strategy::Window, &[None]);
    done(outcome);
    // One output: written on the calling thread, as before (no thread to hand over to).
    assert!(one[0].threads.iter().all(|thread| *thread == caller));

    let (outcome, seen) = run(&input, Strategy::Window, &[None, None, None]);
    done(outcome);
    let mut writers = Vec::new();
    for seen in &seen {
        let writer = seen.threads[0];
        assert!(seen.threads.iter().all(|thread| *thread == writer));
        assert_ne!(writer, caller);
        assert!(!writers.contains(&writer), "two outputs on one thread");
        writers.push(writer);
    }
}

#[test]
fn a_failing_output_among_several_is_named_and_no_output_is_finished() {
    let input = dump(5_000);
    // Fails in the middle, after several batches were handed over.
    let (outcome, seen) = run(&input, Strategy::Window, &[None, Some(2_500), None]);
    let error = outcome.unwrap_err();
    let RunError::Export { format, source } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(format, "out1");
    assert_eq!(source.to_string(), "the disk caught fire");
    assert_eq!(error.to_string(), "cannot write out1 output");
    assert!(seen.iter().all(|seen| !seen.finished), "{seen:?}");
    assert_eq!(seen[1].messages.len(), 2_500);

    // Fails on the very first message, and on the last output.
    let (outcome, seen) = run(&input, Strategy::Window, &[None, None, Some(0)]);
    assert!(
        matches!(&outcome, Err(RunError::Export { format, .. }) if format == "out2"),
        "{outcome:?}"
    );
    assert!(seen.iter().all(|seen| !seen.finished));
}

#[test]
fn an_output_failing_on_the_last_message_leaves_the_others_unfinished() {
    let input = dump(3_000);
    let (outcome, _) = run(&input, Strategy::Window, &[None]);
    let messages = usize::try_from(done(outcome).messages).unwrap();
    let (outcome, seen) = run(&input, Strategy::Window, &[None, Some(messages - 1), None]);
    assert!(
        matches!(&outcome, Err(RunError::Export { format, .. }) if format == "out1"),
        "{outcome:?}"
    );
    assert_eq!(seen[0].messages.len(), messages);
    assert!(
        seen.iter().all(|seen| !seen.finished),
        "finished: {:?}",
        seen.iter().map(|seen| seen.finished).collect::<Vec<_>>()
    );
}

#[test]
fn a_failing_finish_among_several_is_named() {
    let input = dump(2_000);
    let (outcome, seen) = run(&input, Strategy::Window, &[None, None]);
    let summary = done(outcome);
    let messages = usize::try_from(summary.messages).unwrap();
    assert_eq!(seen[0].messages.len(), messages);
    let (outcome, _) = run(&input, Strategy::Window, &[Some(messages), None]);
    assert!(
        matches!(&outcome, Err(RunError::Export { format, .. }) if format == "out0"),
        "{outcome:?}"
    );
}
