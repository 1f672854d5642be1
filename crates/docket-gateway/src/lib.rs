//! docket's model gateway (work in progress).
