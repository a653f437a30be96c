//! Several formats in one pass on several cores: one writer thread per output, fed the same
//! batches of ordered messages.
//!
//! The calling thread (ordering, duplicate check) fills a batch of [`FAN_BATCH`] messages and
//! hands the same `Arc` to every writer through a bounded channel of its own, so a message is
//! never copied, and at most [`BATCHES_IN_FLIGHT`] batches wait for the slowest writer: memory
//! does not grow with the input. The writer that finishes a batch last sends its messages back to
//! the reading thread, to be filled again.
//!
//! A writer that fails stops; the calling thread notices at its next hand-over (or at the end),
//! stops the others and reports the failure of the first output, in the caller's order, that
//! failed. A writer calls [`Exporter::finish`] only when told the run succeeded, which is when every
//! writer has said it wrote every message (`Work::Drain`); when the run stops early its channel
//! simply closes and it returns, so no output is completed.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

use super::{BATCHES_IN_FLIGHT, ExportError, Exporter, Output, RunError, Spent, reusable};
use crate::model::Message;

/// Messages a batch shares among the writers.
const FAN_BATCH: usize = 1024;

/// What a writer is told.
enum Work {
    /// The next ordered messages.
    Batch(Arc<Spent>),
    /// Every message was sent: say so through the sender once all are written, then wait.
    Drain(SyncSender<()>),
    /// Every writer wrote every message: finish the output.
    Finish,
}

/// The writer threads of a run with several outputs.
pub(super) struct FanOut<'scope> {
    /// One per output, in the caller's order; emptied when the writers are stopped.
    senders: Vec<SyncSender<Work>>,
    /// The outputs' names, for errors.
    names: Vec<String>,
    workers: Vec<ScopedJoinHandle<'scope, Result<(), ExportError>>>,
    /// The batch being filled.
    batch: Spent,
}

impl<'scope> FanOut<'scope> {
    /// Starts one writer per output; spent batches go back through `recycle`.
    pub(super) fn start<'env>(
        scope: &'scope Scope<'scope, 'env>,
        outputs: &'env mut [Output<'_>],
        recycle: &Sender<Spent>,
        batch: Spent,
    ) -> Self {
        let mut senders = Vec::with_capacity(outputs.len());
        let mut names = Vec::with_capacity(outputs.len());
        let mut workers = Vec::with_capacity(outputs.len());
        for output in outputs.iter_mut() {
            let (sender, receiver) = sync_channel(BATCHES_IN_FLIGHT);
            let recycle = recycle.clone();
            let exporter = &mut *output.exporter;
            let handle = scope.spawn(move || write(exporter, &receiver, &recycle));
            senders.push(sender);
            names.push(output.name.clone());
            workers.push(handle);
        }
        Self {
            senders,
            names,
            workers,
            batch,
        }
    }

    /// Adds the next ordered message; hands the batch over when full (`next` is an empty vector
    /// to fill afterwards).
    pub(super) fn push(
        &mut self,
        message: Box<Message>,
        next: impl FnOnce() -> Spent,
    ) -> Result<(), RunError> {
        self.batch.push(message);
        if self.batch.len() < FAN_BATCH {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, next());
        self.hand_over(batch)
    }

    /// Hands over what is left, waits until every writer wrote every message, then tells them
    /// to finish and waits for them. A writer that fails on its last messages stops the run
    /// before any output is finished.
    pub(super) fn finish(mut self) -> Result<(), RunError> {
        let batch = std::mem::take(&mut self.batch);
        if !batch.is_empty() {
            self.hand_over(batch)?;
        }
        let mut drained = Vec::with_capacity(self.senders.len());
        for (index, sender) in self.senders.iter().enumerate() {
            let (done, wait) = sync_channel(1);
            if sender.send(Work::Drain(done)).is_err() {
                return Err(self.stop(index));
            }
            drained.push(wait);
        }
        for (index, wait) in drained.iter().enumerate() {
            // Fails when the writer stopped (its end of the channel dropped), after an error.
            if wait.recv().is_err() {
                return Err(self.stop(index));
            }
        }
        for (index, sender) in self.senders.iter().enumerate() {
            if sender.send(Work::Finish).is_err() {
                return Err(self.stop(index));
            }
        }
        self.senders.clear();
        self.join()
    }

    fn hand_over(&mut self, batch: Spent) -> Result<(), RunError> {
        let batch = Arc::new(batch);
        for (index, sender) in self.senders.iter().enumerate() {
            // Fails only when the writer stopped, after an error.
            if sender.send(Work::Batch(Arc::clone(&batch))).is_err() {
                return Err(self.stop(index));
            }
        }
        Ok(())
    }

    /// Stops every writer after the one of output `stopped` stopped; the first error.
    fn stop(&mut self, stopped: usize) -> RunError {
        self.senders.clear();
        match self.join() {
            Err(error) => error,
            // A writer stops early only after an error (or a panic, resumed by `join`).
            Ok(()) => RunError::Export {
                format: self.names[stopped].clone(),
                source: ExportError::Io(std::io::Error::other("the writer stopped")),
            },
        }
    }

    /// Waits for every writer (their channels closed); the error of the first that failed.
    fn join(&mut self) -> Result<(), RunError> {
        let mut first = Ok(());
        for (index, handle) in self.workers.drain(..).enumerate() {
            match handle.join() {
                Ok(Ok(())) => {}
                Ok(Err(source)) => {
                    if first.is_ok() {
                        first = Err(RunError::Export {
                            format: self.names[index].clone(),
                            source,
                        });
                    }
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        first
    }
}

/// A writer thread: every batch into `exporter`, then `finish` when told to.
fn write(
    exporter: &mut (dyn Exporter + Send + '_),
    work: &Receiver<Work>,
    recycle: &Sender<Spent>,
) -> Result<(), ExportError> {
    while let Ok(work) = work.recv() {
        match work {
            Work::Batch(batch) => {
                for message in batch.iter() {
                    exporter.message(message)?;
                }
                // The last writer done with the batch gives its messages back for reuse.
                if let Some(mut messages) = Arc::into_inner(batch) {
                    messages.retain_mut(|message| reusable(message));
                    // The reading thread may have finished; then the messages are dropped.
                    let _ = recycle.send(messages);
                }
            }
            Work::Drain(done) => {
                let _ = done.send(());
            }
            Work::Finish => return exporter.finish(),
        }
    }
    // The run stopped early: the output is left unfinished, to be discarded.
    Ok(())
}
