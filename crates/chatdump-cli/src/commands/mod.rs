//! One module per subcommand: each turns its arguments into library calls and a report.

pub(crate) mod compact;
pub(crate) mod completions;
pub(crate) mod convert;
pub(crate) mod export;
pub(crate) mod export_all;
pub(crate) mod fetch;
pub(crate) mod jobs;
pub(crate) mod serve;
