//! SMTP and LMTP, sans-IO: validated types, a strict zero-copy codec, and (to come) client and
//! server state machines.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod codec;
pub mod types;
