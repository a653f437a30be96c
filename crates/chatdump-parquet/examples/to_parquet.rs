//! Converts one chat-dump CSV file to Parquet through the library alone (no CLI), for profiling
//! the writer: `to_parquet IN.csv OUT.parquet [inline|null]`. `null` runs the reader and the
//! ordering with an exporter that drops every message: the floor under any format.

#![allow(
    clippy::disallowed_methods,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a program: it reads its command line and prints"
)]

use std::fs::File;
use std::io::BufWriter;

use chatdump_core::export::{
    self, ExportContext, ExportError, Exporter, IgnoreObserver, Output, RunOptions,
};
use chatdump_core::model::Message;
use chatdump_core::reader::{ChatReader, ReaderOptions};
use chatdump_parquet::{ParquetOptions, ParquetWriter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (args.get(1), args.get(2)) else {
        return Err("usage: to_parquet IN.csv OUT.parquet [inline]".into());
    };
    let reader = ChatReader::new(File::open(input)?, input.clone(), ReaderOptions::default())?;
    let out = BufWriter::with_capacity(1 << 20, File::create(output)?);
    let exporter: Box<dyn Exporter + Send> = match args.get(3).map(String::as_str) {
        Some("inline") => Box::new(ParquetWriter::new_inline(out, ParquetOptions::default())),
        Some("null") => Box::new(Null),
        _ => Box::new(ParquetWriter::new(out, ParquetOptions::default())),
    };
    let mut outputs = [Output {
        name: "Parquet".into(),
        exporter,
    }];
    let outcome = export::run(
        reader,
        &ExportContext::default(),
        &mut outputs,
        &mut IgnoreObserver,
        &RunOptions::default(),
    )?;
    eprintln!("{outcome:?}");
    Ok(())
}

/// Drops every message.
struct Null;

impl Exporter for Null {
    fn begin(&mut self, _context: &ExportContext) -> Result<(), ExportError> {
        Ok(())
    }
    fn message(&mut self, message: &Message) -> Result<(), ExportError> {
        std::hint::black_box(message);
        Ok(())
    }
    fn finish(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}
