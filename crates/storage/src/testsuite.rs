//! The behaviour every [`BlobStore`] must show, run against each backend by its own tests.

use berth_core::range::ByteRange;
use berth_core::{Algorithm, BlobStore, ByteStream, Digest, Hasher, StorageError, UploadId};
use bytes::Bytes;
use futures_util::StreamExt;
use std::io;

fn body(parts: &[&'static [u8]]) -> ByteStream {
    let items: Vec<io::Result<Bytes>> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
    futures_util::stream::iter(items).boxed()
}

async fn collect(s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = s;
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

/// Runs every check against `store`, configured without redirects. Panics on the first
/// failure.
pub async fn run(store: &dyn BlobStore) {
    upload_commit_read(store).await;
    failed_append_keeps_offset(store).await;
    abort_and_delete_are_idempotent(store).await;
    partial_upload_reads_back(store).await;
    no_redirects(store).await;
    store.ping().await.expect("a store under test answers ping");
    large_chunked_upload(store).await;
}

/// Commits `data` as a blob through one upload; its digest.
async fn stored(store: &dyn BlobStore, data: &'static [u8]) -> Digest {
    let id = UploadId::generate();
    store.begin_upload(&id).await.unwrap();
    let (n, h) = store.append(&id, 0, body(&[data]), Hasher::new(Algorithm::Sha256), None).await.unwrap();
    let d = h.finish();
    store.commit(&id, n, &d).await.unwrap();
    d
}

/// An upload in progress reads back as far as it has been appended (what a re-hash under
/// another algorithm reads), and is no blob yet.
async fn partial_upload_reads_back(store: &dyn BlobStore) {
    let id = UploadId::generate();
    store.begin_upload(&id).await.unwrap();
    let (n, h) = store.append(&id, 0, body(&[b"part", b"ial "]), Hasher::new(Algorithm::Sha256), None).await.unwrap();
    assert_eq!(collect(store.read_upload(&id, n).await.unwrap()).await, b"partial ");
    let (n, _) = store.append(&id, n, body(&[b"upload"]), h, None).await.unwrap();
    assert_eq!(collect(store.read_upload(&id, n).await.unwrap()).await, b"partial upload");
    assert_eq!(store.stat(&Digest::of(Algorithm::Sha256, b"partial upload")).await.unwrap(), None);
    store.abort(&id).await.unwrap();
    assert!(matches!(store.read_upload(&id, n).await, Err(StorageError::NotFound)));
}

/// A store without redirects answers `None` for a blob it holds and one it does not: the
/// registry then streams the blob itself.
async fn no_redirects(store: &dyn BlobStore) {
    let d = stored(store, b"streamed, not redirected").await;
    assert_eq!(store.redirect_url(&d).await.unwrap(), None);
    assert_eq!(store.redirect_url(&Digest::of(Algorithm::Sha256, b"absent")).await.unwrap(), None);
    store.delete(&d).await.unwrap();
}

/// Two appends racing at the same offset of one upload (two replicas taking the same chunk):
/// exactly one succeeds, the other fails with `OffsetMismatch`, and the upload holds the
/// winner's bytes, whole. The first append's body stalls until the second has answered (or
/// a few seconds, for a store that makes it wait), so they overlap.
///
/// Not part of [`run`]: the caller serialises appends to one upload (see `BlobStore::append`),
/// so only a store that refuses a concurrent append itself runs this; the file-system and
/// in-memory stores do.
pub async fn concurrent_appends_one_wins(store: &dyn BlobStore) {
    let id = UploadId::generate();
    store.begin_upload(&id).await.unwrap();
    let (offset, hasher) = store.append(&id, 0, body(&[b"head:"]), Hasher::new(Algorithm::Sha256), None).await.unwrap();
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let (answered, gate) = tokio::sync::oneshot::channel::<()>();
    let stalled: ByteStream = futures_util::stream::once(async move {
        let _ = started_tx.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), gate).await;
        Ok(Bytes::from_static(b"first"))
    })
    .chain(body(&[b"-one!"]))
    .boxed();
    let saved = hasher.save();
    let first = store.append(&id, offset, stalled, Hasher::restore(Algorithm::Sha256, &saved).unwrap(), None);
    let second = async {
        let _ = started.await;
        let r = store
            .append(&id, offset, body(&[b"other-one!"]), Hasher::restore(Algorithm::Sha256, &saved).unwrap(), None)
            .await;
        let _ = answered.send(());
        r
    };
    let (first, second) = tokio::join!(first, second);
    let outcome = |r: &Result<(u64, Hasher), StorageError>| r.as_ref().map(|(n, _)| *n).map_err(|e| e.to_string());
    let outcomes = format!("{:?} and {:?}", outcome(&first), outcome(&second));
    let (end, winner, expected): (u64, Hasher, &[u8]) = match (first, second) {
        (Ok((n, h)), Err(StorageError::OffsetMismatch { .. })) => (n, h, b"head:first-one!"),
        (Err(StorageError::OffsetMismatch { .. }), Ok((n, h))) => (n, h, b"head:other-one!"),
        _ => panic!("exactly one append wins, the other is refused with OffsetMismatch: {outcomes}"),
    };
    assert_eq!(end, expected.len() as u64);
    let d = winner.finish();
    assert_eq!(d, Digest::of(Algorithm::Sha256, expected));
    store.commit(&id, end, &d).await.unwrap();
    assert_eq!(collect(store.read(&d, None).await.unwrap()).await, expected, "the winner's bytes, undamaged");
    store.delete(&d).await.unwrap();
}

/// Megabytes of chunks (13 MiB in five appends), so stores that assemble parts (S3 multipart
/// uploads, 5 MiB minimum) cross their part boundaries and keep a short tail between appends.
async fn large_chunked_upload(store: &dyn BlobStore) {
    let data: Vec<u8> = (0..13u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let id = UploadId::generate();
    store.begin_upload(&id).await.unwrap();
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut offset = 0u64;
    for size in [3usize << 20, 3 << 20, 3 << 20, 3 << 20, 1 << 20] {
        let chunk = Bytes::copy_from_slice(&data[offset as usize..offset as usize + size]);
        // Each append goes through saved hash state, as a request on another replica would.
        let resumed = Hasher::restore(Algorithm::Sha256, &hasher.save()).unwrap();
        let stream: ByteStream = futures_util::stream::iter(vec![Ok(chunk)]).boxed();
        let (n, h) = store.append(&id, offset, stream, resumed, None).await.unwrap();
        assert_eq!(n, offset + size as u64);
        (offset, hasher) = (n, h);
    }
    let d = hasher.finish();
    assert_eq!(d, Digest::of(Algorithm::Sha256, &data));
    store.commit(&id, offset, &d).await.unwrap();
    assert_eq!(store.stat(&d).await.unwrap(), Some(data.len() as u64));
    assert_eq!(collect(store.read(&d, None).await.unwrap()).await, data);
    let across = ByteRange { start: (8 << 20) - 10, end: (8 << 20) + 9 };
    let part = collect(store.read(&d, Some(across)).await.unwrap()).await;
    assert_eq!(part, &data[(8 << 20) - 10..(8 << 20) + 10]);
    store.delete(&d).await.unwrap();
    assert_eq!(store.stat(&d).await.unwrap(), None);
}

async fn upload_commit_read(store: &dyn BlobStore) {
    let id = UploadId::generate();
    store.begin_upload(&id).await.unwrap();
    let h = Hasher::new(Algorithm::Sha256);
    let (n, h) = store.append(&id, 0, body(&[b"hello ", b"wor"]), h, None).await.unwrap();
    assert_eq!(n, 9);
    assert_eq!(store.stat(&Digest::of(Algorithm::Sha256, b"hello world")).await.unwrap(), None);
    let resumed = Hasher::restore(Algorithm::Sha256, &h.save()).unwrap();
    let (n, h) = store.append(&id, 9, body(&[b"ld"]), resumed, None).await.unwrap();
    assert_eq!(n, 11);
    let d = h.finish();
    assert_eq!(d, Digest::of(Algorithm::Sha256, b"hello world"));
    store.commit(&id, n, &d).await.unwrap();
    assert_eq!(store.stat(&d).await.unwrap(), Some(11));
    assert_eq!(collect(store.read(&d, None).await.unwrap()).await, b"hello world");
    let part = store.read(&d, Some(ByteRange { start: 6, end: 9 })).await.unwrap();
    assert_eq!(collect(part).await, b"worl");
    assert!(store.list().await.unwrap().contains(&d));
    assert!(matches!(
        store.append(&id, 0, body(&[]), Hasher::new(Algorithm::Sha256), None).await,
        Err(StorageError::NotFound)
    ));
}

async fn failed_append_keeps_offset(store: &dyn BlobStore) {
    let id = UploadId::generate();
    store.begin_upload(&id).await.unwrap();
    let (n, _) = store.append(&id, 0, body(&[b"abc"]), Hasher::new(Algorithm::Sha256), None).await.unwrap();
    let broken: ByteStream = futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"def")),
        Err(io::Error::new(io::ErrorKind::UnexpectedEof, "client went away")),
    ])
    .boxed();
    let r = store.append(&id, n, broken, Hasher::new(Algorithm::Sha256), None).await;
    assert!(matches!(r, Err(StorageError::Body(_))));
    let r = store.append(&id, 0, body(&[b"toolong"]), Hasher::new(Algorithm::Sha256), Some(4)).await;
    assert!(matches!(r, Err(StorageError::TooLong)));
    assert!(matches!(
        store.append(&id, 5, body(&[b"x"]), Hasher::new(Algorithm::Sha256), None).await,
        Err(StorageError::OffsetMismatch { .. })
    ));
    store.abort(&id).await.unwrap();
}

async fn abort_and_delete_are_idempotent(store: &dyn BlobStore) {
    let id = UploadId::generate();
    store.begin_upload(&id).await.unwrap();
    store.abort(&id).await.unwrap();
    store.abort(&id).await.unwrap();
    let d = Digest::of(Algorithm::Sha512, b"never stored");
    store.delete(&d).await.unwrap();
    assert!(matches!(store.read(&d, None).await, Err(StorageError::NotFound)));
}
