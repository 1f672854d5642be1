//! Tests of `docket gate` (stub).
