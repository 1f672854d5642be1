//! `docket gate` (stub: the gate helper fills this in).
