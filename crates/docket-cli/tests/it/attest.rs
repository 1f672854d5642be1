//! Tests of `docket attest` (stub).
