//! Reading a whole KakaoWork list: every page through [`crate::model::pagination`] (the
//! cursor-only rule, a bound on pages), each page a request against the rate budget, an
//! interrupted listing kept for the next call to go on with.

use crate::api::retry;
use crate::contract::ports::Ports;
use crate::model::error::ApiError;
use crate::model::error::ChannelError;
use crate::model::pagination::{self, PageParams, PaginationError, Progress};
use crate::state::memo::Memo;

/// Page size of every list call (KakaoWork's largest).
const PAGE_LIMIT: u32 = 100;
/// At most this many pages per listing: 10,000 entries.
pub const MAX_PAGES: usize = 100;
/// How long an interrupted listing is kept for the next call to go on with.
const RESUME_MS: u64 = 60_000;

/// Every page of one list method, each page tried as a call that is safe to repeat. When the
/// budget (or a transient failure) stops it midway, the pages read so far are kept in the
/// instance for a minute and the host's next call goes on from there: starting over would
/// spend the budget on the first pages again and never reach the last.
pub(crate) fn list<T: 'static>(
    ports: &Ports<'_>,
    memo: &Memo,
    account: &str,
    what: &str,
    mut page: impl FnMut(&PageParams) -> Result<pagination::Page<T>, ApiError>,
) -> Result<Vec<T>, ChannelError> {
    // Also the key of its retry count and of where it stopped.
    let scope = &format!("{account}/{what}");
    let start = memo
        .take_listing::<Progress<T>>(scope, ports.clock.now_ms(), RESUME_MS)
        .unwrap_or_else(|| Progress::start(PAGE_LIMIT));
    pagination::collect_from(start, MAX_PAGES, |p| {
        retry::safe_call(ports, scope, what, || page(p))
    })
    .map_err(|(e, progress)| match e {
        PaginationError::Fetch(e) => {
            let again = matches!(e, ChannelError::Deferred(_))
                || matches!(&e, ChannelError::Transport(t) if t.retry_after_ms.is_some());
            if again {
                memo.put_listing(scope, ports.clock.now_ms(), progress);
            }
            e
        }
        e @ PaginationError::TooManyPages { .. } => ChannelError::Other(format!("{what}: {e}")),
        e @ PaginationError::RepeatedCursor => {
            ChannelError::InvalidResponse(format!("{what}: {e}"))
        }
    })
}
