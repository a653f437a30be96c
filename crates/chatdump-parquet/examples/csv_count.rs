//! The parse floor for `scripts/bench`: counts the records and field bytes of a CSV file with the
//! bare `csv` crate (one reused `ByteRecord`, 1 MiB buffer), the way `performance.md` §6.3 does.
//!
//! ```sh
//! cargo run --release -p chatdump-parquet --example csv_count -- chat.csv
//! ```

#![allow(
    clippy::disallowed_methods,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a program: it reads its command line and prints"
)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: csv_count FILE.csv");
        return ExitCode::from(2);
    };
    let mut reader = match csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(1 << 20)
        .from_path(&path)
    {
        Ok(reader) => reader,
        Err(error) => {
            eprintln!("error: cannot open `{}`: {error}", path.to_string_lossy());
            return ExitCode::FAILURE;
        }
    };
    let mut record = csv::ByteRecord::new();
    let (mut records, mut bytes) = (0_u64, 0_u64);
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {
                records += 1;
                bytes += record.as_slice().len() as u64;
            }
            Ok(false) => break,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!("{records} records, {bytes} field bytes");
    ExitCode::SUCCESS
}
