//! KakaoWork cursor pagination, as one reusable piece.
//!
//! KakaoWork's rules: the first call passes `limit` only; every later call passes the previous
//! answer's `cursor` and nothing else. Stop when the list is empty or
//! the cursor is null; the last page's items are kept.

use thiserror::Error;

/// The query parameters of one page request; by construction never both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageParams {
    First { limit: u32 },
    Next { cursor: String },
}

impl PageParams {
    pub fn query(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::First { limit } => vec![("limit", limit.to_string())],
            Self::Next { cursor } => vec![("cursor", cursor.clone())],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaginationError<E> {
    #[error(transparent)]
    Fetch(E),
    #[error(
        "stopped after {pages} pages ({items} items) without reaching the end; raise the page bound or narrow the query"
    )]
    TooManyPages { pages: usize, items: usize },
    #[error("the server returned the same cursor twice; stopping to avoid a loop")]
    RepeatedCursor,
}

/// KakaoWork accepts a page size of 1 to 100.
pub const MAX_LIMIT: u32 = 100;

/// Where a listing stands: the next page to ask for, and the items and pages before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress<T> {
    pub next: PageParams,
    pub items: Vec<T>,
    pub pages: usize,
}

impl<T> Progress<T> {
    /// A listing not started yet, asking `limit` items a page (clamped to KakaoWork's range).
    pub fn start(limit: u32) -> Self {
        Self {
            next: PageParams::First {
                limit: limit.clamp(1, MAX_LIMIT),
            },
            items: Vec::new(),
            pages: 0,
        }
    }
}

/// Fetch every page through `fetch`, at most `max_pages` of them.
pub fn collect_all<T, E>(
    limit: u32,
    max_pages: usize,
    fetch: impl FnMut(&PageParams) -> Result<Page<T>, E>,
) -> Result<Vec<T>, PaginationError<E>> {
    collect_from(Progress::start(limit), max_pages, fetch).map_err(|(e, _)| e)
}

/// Go on with a listing from `progress`. On failure, also where it stopped: a caller whose
/// fetch was only told "not now" can go on from there later instead of starting again.
pub fn collect_from<T, E>(
    progress: Progress<T>,
    max_pages: usize,
    mut fetch: impl FnMut(&PageParams) -> Result<Page<T>, E>,
) -> Result<Vec<T>, (PaginationError<E>, Progress<T>)> {
    let mut p = progress;
    loop {
        if p.pages >= max_pages {
            let e = PaginationError::TooManyPages {
                pages: p.pages,
                items: p.items.len(),
            };
            return Err((e, p));
        }
        let page = match fetch(&p.next) {
            Ok(page) => page,
            Err(e) => return Err((PaginationError::Fetch(e), p)),
        };
        p.pages += 1;
        let empty = page.items.is_empty();
        p.items.extend(page.items);
        match page.cursor {
            Some(c) if !empty && !c.is_empty() => {
                if matches!(&p.next, PageParams::Next { cursor } if *cursor == c) {
                    return Err((PaginationError::RepeatedCursor, p));
                }
                p.next = PageParams::Next { cursor: c };
            }
            _ => return Ok(p.items),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server holding `n` items that enforces the cursor-only rule like KakaoWork does.
    fn server(n: u32) -> impl FnMut(&PageParams) -> Result<Page<u32>, String> {
        let mut expect_first = true;
        move |p| {
            let (start, limit) = match p {
                PageParams::First { limit } => {
                    if !expect_first {
                        return Err("limit passed on a later call".into());
                    }
                    expect_first = false;
                    (0, *limit)
                }
                PageParams::Next { cursor } => {
                    let (s, l) = cursor.split_once(':').ok_or("bad cursor")?;
                    (s.parse().unwrap(), l.parse().unwrap())
                }
            };
            let end = (start + limit).min(n);
            let items: Vec<u32> = (start..end).collect();
            let cursor = (end < n).then(|| format!("{end}:{limit}"));
            Ok(Page { items, cursor })
        }
    }

    #[test]
    fn three_pages_keep_the_last_page() {
        let mut calls = Vec::new();
        let mut srv = server(25);
        let all = collect_all(10, 10, |p| {
            calls.push(p.clone());
            srv(p)
        })
        .unwrap();
        assert_eq!(all, (0..25).collect::<Vec<_>>());
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0], PageParams::First { limit: 10 });
        assert!(matches!(calls[1], PageParams::Next { .. }));
        assert!(matches!(calls[2], PageParams::Next { .. }));
    }

    #[test]
    fn later_calls_pass_cursor_only() {
        let mut queries = Vec::new();
        let mut srv = server(30);
        collect_all(10, 10, |p| {
            queries.push(p.query());
            srv(p)
        })
        .unwrap();
        assert_eq!(queries[0], vec![("limit", "10".to_string())]);
        for q in &queries[1..] {
            assert_eq!(q.len(), 1, "{q:?}");
            assert_eq!(q[0].0, "cursor");
        }
    }

    #[test]
    fn stops_on_empty_list_even_with_a_cursor() {
        let mut n = 0;
        let all: Vec<u32> = collect_all(10, 10, |_| {
            n += 1;
            Ok::<_, ()>(Page {
                items: if n == 1 { vec![1, 2] } else { vec![] },
                cursor: Some(format!("c{n}")),
            })
        })
        .unwrap();
        assert_eq!(all, vec![1, 2]);
        assert_eq!(n, 2);
    }

    #[test]
    fn page_bound_is_an_error_not_a_silent_truncation() {
        let err = collect_all(1, 3, server(10)).unwrap_err();
        assert_eq!(err, PaginationError::TooManyPages { pages: 3, items: 3 });
    }

    #[test]
    fn repeated_cursor_stops() {
        let err = collect_all(1, 100, |_| {
            Ok::<_, ()>(Page {
                items: vec![1],
                cursor: Some("same".into()),
            })
        })
        .unwrap_err();
        assert_eq!(err, PaginationError::RepeatedCursor);
    }

    #[test]
    fn limit_is_clamped_to_kakaowork_range() {
        let mut first = None;
        collect_all(1000, 1, |p| {
            first.get_or_insert(p.clone());
            Ok::<_, ()>(Page::<u32> {
                items: vec![],
                cursor: None,
            })
        })
        .unwrap();
        assert_eq!(first, Some(PageParams::First { limit: 100 }));
    }

    #[test]
    fn an_interrupted_listing_goes_on_where_it_stopped() {
        let mut srv = server(250);
        let mut asked = Vec::new();
        let mut progress = Progress::start(100);
        let mut rounds = 0;
        // Each round the "limiter" lets one page through, then says not now.
        let all = loop {
            rounds += 1;
            let mut allowed = true;
            let r = collect_from(progress, 10, |p| {
                if !std::mem::replace(&mut allowed, false) {
                    return Err("not now".to_owned());
                }
                asked.push(p.clone());
                srv(p)
            });
            match r {
                Ok(all) => break all,
                Err((PaginationError::Fetch(m), p)) if m == "not now" => progress = p,
                Err((e, _)) => panic!("{e:?}"),
            }
        };
        assert_eq!(all, (0..250).collect::<Vec<_>>());
        assert_eq!(rounds, 3);
        assert_eq!(asked.len(), 3, "no page asked twice: {asked:?}");
        assert_eq!(asked[0], PageParams::First { limit: 100 });
    }

    #[test]
    fn fetch_errors_propagate() {
        let err = collect_all(10, 5, |_| Err::<Page<u32>, _>("boom")).unwrap_err();
        assert_eq!(err, PaginationError::Fetch("boom"));
    }

    proptest::proptest! {
        #[test]
        fn any_size_any_limit_returns_every_item_once(n in 0u32..400, limit in 1u32..=100) {
            let all = collect_all(limit, 1000, server(n)).unwrap();
            proptest::prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
        }
    }
}
