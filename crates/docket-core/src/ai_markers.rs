//! AI markers in commit messages (stub: the gate helper fills this in).
