//! The `chatdump-testserver` binary (work in progress).

fn main() {}
