//! The integration tests: they run the real `chatdump` binary on fixture files.

mod support;
