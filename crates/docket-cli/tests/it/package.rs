//! Tests of `docket package` (stub).
