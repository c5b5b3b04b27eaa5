//! KakaoWork cursor pagination, as one reusable piece.
//!
//! Rules (Web API reference, "Pagination"): the first call passes `limit` only; every later
//! call passes the previous answer's `cursor` and nothing else. Stop when the list is empty or
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

/// Fetch every page through `fetch`, at most `max_pages` of them.
pub fn collect_all<T, E>(
    limit: u32,
    max_pages: usize,
    mut fetch: impl FnMut(&PageParams) -> Result<Page<T>, E>,
) -> Result<Vec<T>, PaginationError<E>> {
    let mut params = PageParams::First {
        limit: limit.clamp(1, MAX_LIMIT),
    };
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        if pages == max_pages {
            return Err(PaginationError::TooManyPages {
                pages,
                items: all.len(),
            });
        }
        let page = fetch(&params).map_err(PaginationError::Fetch)?;
        pages += 1;
        let empty = page.items.is_empty();
        all.extend(page.items);
        match page.cursor {
            Some(c) if !empty && !c.is_empty() => {
                if matches!(&params, PageParams::Next { cursor } if *cursor == c) {
                    return Err(PaginationError::RepeatedCursor);
                }
                params = PageParams::Next { cursor: c };
            }
            _ => return Ok(all),
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
