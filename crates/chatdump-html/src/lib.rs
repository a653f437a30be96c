//! Self-contained HTML transcript output for chatdump (work in progress).
