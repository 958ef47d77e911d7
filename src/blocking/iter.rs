//! Synchronous producers (a response stream's iterators) on the blocking pool, feeding a
//! connection through a bounded channel.
//!
//! A producer does not own a thread for the life of its stream. It runs as a job that calls
//! the iterator until the stream's bounded channel is full, then parks itself (hands itself
//! back to the connection) and frees the thread; the connection resubmits it once it has
//! taken items out. So a slow or stalled client holds no thread and no unbounded buffer, and
//! a thread is only busy while an iterator is actually computing (or blocking) in `next`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use super::pool::{BlockingPool, Class};

/// Items a synchronous stream may run ahead of its connection.
pub(crate) const CHANNEL: usize = 16;

/// Starts running `iter` for a connection; the returned [`IterFeed`] yields its items.
pub(crate) fn start<T: Send + 'static>(
    pool: &Arc<BlockingPool>,
    iter: Box<dyn Iterator<Item = Item<T>> + Send>,
) -> IterFeed<T> {
    let (items_tx, items_rx) = flume::bounded(CHANNEL);
    let (parked_tx, parked_rx) = flume::unbounded();
    let producer = Producer {
        iter,
        pending: None,
        items: items_tx,
    };
    let park = parked_tx.clone();
    pool.submit(Class::App, Box::new(move || producer.run(&park)));
    IterFeed {
        park: parked_tx,
        buffered: items_rx.clone(),
        items: items_rx.into_stream(),
        parked: parked_rx.into_stream(),
        waiting: None,
        pool: Arc::clone(pool),
    }
}

/// What an iterator yields: a value, or why it failed (which ends it).
pub(crate) type Item<T> = Result<T, String>;

/// A synchronous stream's producer: the iterator, and the item it could not hand over yet.
pub(crate) struct Producer<T> {
    iter: Box<dyn Iterator<Item = Item<T>> + Send>,
    pending: Option<Item<T>>,
    items: flume::Sender<Item<T>>,
}

impl<T: Send + 'static> Producer<T> {
    /// Calls the iterator until its channel is full (then parks), it ends, it fails, or the
    /// connection is gone (then the iterator is dropped here, on the pool thread).
    ///
    /// `park` is where it hands itself back. It is not a field: a parked producer sits in
    /// that channel, and a sender inside its own channel would keep the channel (and the
    /// producer) alive after the connection dropped its side.
    fn run(mut self, park: &flume::Sender<Producer<T>>) {
        loop {
            let item = match self.pending.take() {
                Some(item) => Some(item),
                None => match std::panic::catch_unwind(AssertUnwindSafe(|| self.iter.next())) {
                    Ok(item) => item,
                    Err(_) => Some(Err("the stream's iterator panicked".to_owned())),
                },
            };
            // The end: dropping the sender tells the connection, once it has read the rest.
            let Some(item) = item else { return };
            let failed = item.is_err();
            match self.items.try_send(item) {
                Ok(()) if failed => return,
                Ok(()) => {}
                Err(flume::TrySendError::Full(item)) => {
                    self.pending = Some(item);
                    // The connection resubmits it when it has room; if it is gone, the
                    // producer (and its iterator) is dropped with the failed send.
                    let _ = park.send(self);
                    return;
                }
                Err(flume::TrySendError::Disconnected(_)) => return,
            }
        }
    }
}

/// The connection's side of a synchronous stream.
pub(crate) struct IterFeed<T: 'static> {
    items: flume::r#async::RecvStream<'static, Item<T>>,
    /// The same channel, to see how many items are buffered.
    buffered: flume::Receiver<Item<T>>,
    parked: flume::r#async::RecvStream<'static, Producer<T>>,
    park: flume::Sender<Producer<T>>,
    /// A producer that parked, until the channel has room for it again.
    waiting: Option<Producer<T>>,
    pool: Arc<BlockingPool>,
}

impl<T: Send + 'static> IterFeed<T> {
    /// The next item: `Ready(None)` at the end of the stream.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Item<T>>> {
        use futures_util::StreamExt;
        use std::task::Poll;
        if let Poll::Ready(Some(producer)) = self.parked.poll_next_unpin(cx) {
            self.waiting = Some(producer);
        }
        let next = self.items.poll_next_unpin(cx);
        // A producer that parked on a full channel goes back to work once half of it is free
        // (not at once: it would park again straight away while the client is slow).
        if self.waiting.is_some() && self.buffered.len() <= CHANNEL / 2 {
            let producer = self.waiting.take();
            let park = self.park.clone();
            self.pool.submit(
                Class::App,
                Box::new(move || {
                    if let Some(p) = producer {
                        p.run(&park);
                    }
                }),
            );
        }
        next
    }
}
