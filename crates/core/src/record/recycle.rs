//! Buffers handed back by the exporter worker to the application's threads.
//!
//! A span's record (~1.8 KB) and its content (~1 KB of messages each way) are built on the
//! application's thread, because `tracing` only lends field values as `&str`, and the exporter
//! worker used to free them. A block freed on another thread than the one that allocated it goes
//! back to the allocating thread's arena under that arena's lock (glibc), so the application's next
//! allocations and the worker's frees took turns on one lock: tens of thousands of futex calls per
//! second in a tight loop, and twice the time per span. Instead the worker hands the emptied record
//! box, and each content text's buffer once parsed, back here, and the application's next spans
//! reuse them. Bounded (at most [`RECORD_SLOTS`] boxes and [`TEXT_SLOTS`] buffers of at most
//! [`MAX_RECYCLED`] bytes: under 9 MiB held), and never blocking on either side.

use std::sync::OnceLock;

use crossbeam_channel::{Receiver, Sender};

use super::{SpanKind, SpanRecord};

/// Content buffers kept for reuse.
pub(crate) const TEXT_SLOTS: usize = 512;
/// The largest content buffer kept (a larger one is freed as before).
pub(crate) const MAX_RECYCLED: usize = 16 * 1024;
/// The smallest text worth a pooled buffer: below it the allocator's per-thread cache is cheaper.
pub(crate) const MIN_POOLED: usize = 256;
/// Record boxes kept for reuse (256 hold < 0.5 MiB).
pub(crate) const RECORD_SLOTS: usize = 256;

/// A bounded, non-blocking pool of `T`.
struct Pool<T> {
    give: Sender<T>,
    take: Receiver<T>,
}

impl<T> Pool<T> {
    fn new(slots: usize) -> Self {
        let (give, take) = crossbeam_channel::bounded(slots);
        Pool { give, take }
    }
}

fn texts() -> &'static Pool<String> {
    static TEXTS: OnceLock<Pool<String>> = OnceLock::new();
    TEXTS.get_or_init(|| Pool::new(TEXT_SLOTS))
}

fn records() -> &'static Pool<Box<SpanRecord>> {
    static RECORDS: OnceLock<Pool<Box<SpanRecord>>> = OnceLock::new();
    RECORDS.get_or_init(|| Pool::new(RECORD_SLOTS))
}

/// An owned copy of `text`, in a recycled buffer when one is there.
pub(crate) fn copy_of(text: &str) -> String {
    if text.len() < MIN_POOLED {
        return text.to_string();
    }
    match texts().take.try_recv() {
        Ok(mut buffer) => {
            buffer.clear();
            buffer.push_str(text);
            buffer
        }
        Err(_) => text.to_string(),
    }
}

/// Hands a buffer whose text is no longer needed back for reuse (dropped when the pool is full or
/// the buffer is too large or too small to be worth keeping).
pub(crate) fn give_back(buffer: String) {
    if (MIN_POOLED..=MAX_RECYCLED).contains(&buffer.capacity()) {
        let _ = texts().give.try_send(buffer);
    }
}

/// `record` on the heap, in a box the worker gave back when there is one.
pub(crate) fn boxed(record: SpanRecord) -> Box<SpanRecord> {
    match records().take.try_recv() {
        Ok(mut shell) => {
            *shell = record;
            shell
        }
        Err(_) => Box::new(record),
    }
}

/// Takes the record out of its box and hands the (emptied) box back for the next span.
pub(crate) fn unbox(mut record: Box<SpanRecord>) -> SpanRecord {
    let blank = SpanRecord::blank(String::new(), SpanKind::Generic, 0);
    let taken = std::mem::replace(&mut *record, blank);
    let _ = records().give.try_send(record);
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_exact_whether_a_buffer_is_reused_or_not() {
        let text = "x".repeat(600);
        let first = copy_of(&text);
        assert_eq!(first, text);
        give_back(first);
        // Another test may take the buffer first; a fresh copy is just as right.
        assert_eq!(copy_of(&"y".repeat(500)), "y".repeat(500));
        give_back(String::with_capacity(MAX_RECYCLED + 1));
        give_back(String::with_capacity(8));
        assert_eq!(copy_of("short"), "short");
    }

    #[test]
    fn a_reused_box_holds_the_new_record_and_an_unboxed_one_is_whole() {
        let mut record = SpanRecord::new("chat", SpanKind::ModelGeneration);
        record.request_model = Some("gpt-4o".into());
        let id = record.span_id;
        let back = unbox(boxed(record.clone()));
        assert_eq!(back, record);
        let next = boxed(SpanRecord::new("step", SpanKind::ModelStep));
        assert_eq!(next.name, "step");
        assert_ne!(next.span_id, id);
        assert_eq!(
            next.request_model, None,
            "nothing of the last record is left"
        );
    }
}
