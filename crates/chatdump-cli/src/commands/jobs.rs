//! `chatdump jobs`: the webhook receiver's recent jobs, as a table or JSON.

use std::io::{self, Write as _};

use anyhow::Context as _;
use chatdump_core::escape::escape_for_terminal;
use chatdump_serve::store::utc_time;
use chatdump_serve::{JobStatus, Store};

use crate::args::{JobStatusArg, JobsArgs};
use crate::exit::UsageError;

/// `chatdump jobs`.
pub(crate) fn run(args: &JobsArgs) -> anyhow::Result<()> {
    let state = match (&args.state, &args.output) {
        (Some(state), _) => state.clone(),
        (None, Some(output)) => chatdump_serve::default_state_path(output),
        (None, None) => return Err(UsageError("give --output or --state".into()).into()),
    };
    let shown = escape_for_terminal(&state.display().to_string(), 200);
    if !state.exists() {
        return Err(anyhow::anyhow!(
            "no job database at `{shown}` (has `chatdump serve` run with this output?)"
        ));
    }
    let store = Store::open_read_only(&state)
        .with_context(|| format!("cannot open the job database `{shown}`"))?;
    let status = args.status.map(|status| match status {
        JobStatusArg::Queued => JobStatus::Queued,
        JobStatusArg::Running => JobStatus::Running,
        JobStatusArg::Done => JobStatus::Done,
        JobStatusArg::Failed => JobStatus::Failed,
    });
    let jobs = store.recent(args.limit, status)?;
    let mut out = io::stdout().lock();
    if args.json {
        for job in &jobs {
            let value = job.to_json();
            writeln!(out, "{value}")?;
        }
    } else {
        writeln!(
            out,
            "{:>6}  {:<8}  {:>8}  {:>10}  {:<20}  {:<40}  {:<10}  ERROR",
            "ID", "STATUS", "ATTEMPTS", "DELIVERIES", "UPDATED", "SESSION", "PART"
        )?;
        for job in &jobs {
            writeln!(
                out,
                "{:>6}  {:<8}  {:>8}  {:>10}  {:<20}  {:<40}  {:<10}  {}",
                job.id,
                job.status.as_str(),
                job.attempts,
                job.deliveries,
                utc_time(job.updated_at),
                escape_for_terminal(&job.session_id, 40),
                // The event's part: `chat`, `transcript` or `summary`.
                chatdump_serve::payload::Part::from_event(&job.event)
                    .map_or("chat", chatdump_serve::payload::Part::name),
                escape_for_terminal(job.last_error.as_deref().unwrap_or("-"), 300)
            )?;
        }
        let counts = store.counts()?;
        let summary = counts
            .iter()
            .map(|(status, count)| format!("{count} {status}"))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            out,
            "total: {}",
            if summary.is_empty() {
                "no jobs".into()
            } else {
                summary
            }
        )?;
    }
    out.flush()?;
    Ok(())
}
