//! What the unit tests of several modules share.

use std::io::Cursor;

use crate::pop3::{Login, Maildrop, MessageInfo, Refusal, Retrieve};

/// A maildrop with nothing in it.
pub(crate) struct Empty;

impl Maildrop for Empty {
    type Message = Cursor<Vec<u8>>;

    async fn login(&mut self, _: &Login) -> Result<Vec<MessageInfo>, Refusal> {
        Ok(Vec::new())
    }

    async fn retrieve(&mut self, _: &Retrieve) -> Result<Self::Message, Refusal> {
        Err(Refusal::new("no such message"))
    }
}

/// The size of what `make` would return; it is never called.
pub(crate) fn size_of_return<F>(_: impl FnOnce() -> F) -> usize {
    std::mem::size_of::<F>()
}
