//! Whole tag lists kept per replica, checked against the database on every use.
//!
//! A repository with thousands of tags costs the database milliseconds to list and the wire
//! little; the list itself changes rarely. Each entry is labelled with the repository's tag
//! generation ([`ContentStore::tag_generation`]) read *before* the list was fetched, and is
//! served only while the database still reports that generation. So the answer is always the
//! database's current one: a list fetched after a later change carries the older label and is
//! simply never matched again. Nothing here is needed for a correct answer, which is why
//! replicas can each keep their own.
//!
//! Bounded by the bytes of the names it holds; when full it starts over.

use berth_core::{ContentStore, MetaError, Page, RepoName};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bytes of tag names kept across all repositories (plus a per-name allowance).
const MAX_BYTES: usize = 64 * 1024 * 1024;
/// What one name costs beyond its bytes (the `String` itself).
const PER_NAME: usize = std::mem::size_of::<String>();

/// A page of a tag list: a window into a shared, sorted list.
#[derive(Debug, Clone)]
pub struct TagPage {
    all: Arc<[String]>,
    start: usize,
    end: usize,
}

impl TagPage {
    /// The tags of this page, in byte order.
    pub fn tags(&self) -> &[String] {
        &self.all[self.start..self.end]
    }

    fn of(all: Arc<[String]>, page: &Page) -> Self {
        let start = match &page.last {
            Some(last) => all.partition_point(|t| t.as_str() <= last.as_str()),
            None => 0,
        };
        let end = match page.n {
            Some(n) => all.len().min(start.saturating_add(n as usize)),
            None => all.len(),
        };
        TagPage { all, start, end }
    }
}

#[derive(Default)]
struct Inner {
    bytes: usize,
    lists: HashMap<RepoName, (u64, Arc<[String]>)>,
}

/// Tag lists by repository, each with the generation it was read at.
#[derive(Default)]
pub(crate) struct TagLists {
    inner: Mutex<Inner>,
}

fn cost(list: &[String]) -> usize {
    list.iter().map(|t| t.len() + PER_NAME).sum()
}

impl TagLists {
    /// A page of `repo`'s tags as the database holds them now; `None` if the repository is
    /// unknown. One small query when the kept list is current; a paged request that misses
    /// asks the database for its page only, a whole-list request fetches and keeps the list.
    pub(crate) async fn page(
        &self,
        meta: &dyn ContentStore,
        repo: &RepoName,
        page: &Page,
    ) -> Result<Option<TagPage>, MetaError> {
        let Some(generation) = meta.tag_generation(repo).await? else { return Ok(None) };
        if let Some(all) = self.get(repo, generation) {
            return Ok(Some(TagPage::of(all, page)));
        }
        let Some(fetched) = meta.list_tags(repo, page).await? else { return Ok(None) };
        let fetched: Arc<[String]> = fetched.into();
        if page.last.is_none() && page.n.is_none() {
            self.store(repo, generation, &fetched);
        }
        Ok(Some(TagPage::of(fetched, &Page::default())))
    }

    fn get(&self, repo: &RepoName, generation: u64) -> Option<Arc<[String]>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.lists.get(repo).filter(|(g, _)| *g == generation).map(|(_, l)| l.clone())
    }

    fn store(&self, repo: &RepoName, generation: u64, list: &Arc<[String]>) {
        let size = cost(list);
        if size > MAX_BYTES / 4 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.lists.get(repo).is_some_and(|(g, _)| *g > generation) {
            return;
        }
        if inner.bytes + size > MAX_BYTES {
            inner.lists.clear();
            inner.bytes = 0;
        }
        inner.bytes += size;
        if let Some((_, old)) = inner.lists.insert(repo.clone(), (generation, list.clone())) {
            inner.bytes -= cost(&old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Arc<[String]> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pages_slice_after_last() {
        let all = list(&["a", "b", "c", "d"]);
        let p = |last: Option<&str>, n| TagPage::of(all.clone(), &Page { last: last.map(str::to_owned), n });
        assert_eq!(p(None, None).tags(), ["a", "b", "c", "d"]);
        assert_eq!(p(Some("a"), Some(2)).tags(), ["b", "c"]);
        assert_eq!(p(Some("bb"), None).tags(), ["c", "d"]);
        assert_eq!(p(Some("d"), Some(5)).tags(), Vec::<String>::new());
        assert_eq!(p(None, Some(0)).tags(), Vec::<String>::new());
    }

    #[test]
    fn an_older_generation_never_replaces_a_newer_one() {
        let lists = TagLists::default();
        let r = RepoName::parse("a/b").unwrap();
        lists.store(&r, 5, &list(&["new"]));
        lists.store(&r, 4, &list(&["old"]));
        assert_eq!(lists.get(&r, 5).as_deref(), Some(&["new".to_string()][..]));
        assert!(lists.get(&r, 4).is_none());
        assert!(lists.get(&r, 6).is_none());
    }
}
