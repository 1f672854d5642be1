//! report.html (stub: the package helper fills this in).
