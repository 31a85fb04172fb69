//! The exit codes of the contract: 0 done, 1 a remote call or a delivery
//! failed (or a report found something due), 2 bad input.

/// A remote call failed, a delivery failed, or something is due.
pub const FAILED: u8 = 1;
/// Bad input: nothing was called.
pub const BAD_INPUT: u8 = 2;
