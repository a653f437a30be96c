//! The integration tests: they run the real `chatdump` binary on fixture files.

#![allow(
    clippy::disallowed_methods,
    clippy::print_stderr,
    reason = "tests run the binary as a user would: the environment, the clock and the system temporary directory are theirs, and they print what they measured"
)]

mod archive;
mod bulk;
mod cli;
mod convert;
mod docs;
mod export_with;
mod fetch;
mod html_browser;
mod interrupt;
mod jsonl_flavors;
mod media;
mod ordering;
mod parquet;
mod reader_errors;
mod reliability_files;
mod reliability_reader;
mod serve;
mod stems;
mod support;
mod transcripts;
