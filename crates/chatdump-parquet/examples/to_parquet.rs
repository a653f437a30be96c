//! Converts one chat-dump CSV file to Parquet through the library alone (no CLI), for profiling
//! the writer: `to_parquet IN.csv OUT.parquet [inline]`.

use std::fs::File;
use std::io::BufWriter;

use chatdump_core::export::{self, ExportContext, IgnoreObserver, Output, RunOptions};
use chatdump_core::reader::{ChatReader, ReaderOptions};
use chatdump_parquet::{ParquetOptions, ParquetWriter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (args.get(1), args.get(2)) else {
        return Err("usage: to_parquet IN.csv OUT.parquet [inline]".into());
    };
    let reader = ChatReader::new(File::open(input)?, input.clone(), ReaderOptions::default())?;
    let out = BufWriter::with_capacity(1 << 20, File::create(output)?);
    let writer = if args.get(3).is_some_and(|mode| mode == "inline") {
        ParquetWriter::new_inline(out, ParquetOptions::default())
    } else {
        ParquetWriter::new(out, ParquetOptions::default())
    };
    let mut outputs = [Output {
        name: "Parquet".into(),
        exporter: Box::new(writer),
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
