//! Audit packages (stub: the package helper fills this in).
