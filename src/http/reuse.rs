//! Holder consent, the access log and requester pulls.
