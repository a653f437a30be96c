//! The integration tests: they run the real `chatdump` binary on fixture files.

mod bulk;
mod convert;
mod docs;
mod fetch;
mod html_browser;
mod interrupt;
mod jsonl_flavors;
mod ordering;
mod parquet;
mod reader_errors;
mod serve;
mod support;
mod transcripts;
