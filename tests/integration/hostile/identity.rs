//! Identity cannot be claimed: sourceURL, stack traces, Error and toString are labels at most.
