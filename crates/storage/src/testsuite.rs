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

/// Runs every check against `store`. Panics on the first failure.
pub async fn run(store: &dyn BlobStore) {
    upload_commit_read(store).await;
    failed_append_keeps_offset(store).await;
    abort_and_delete_are_idempotent(store).await;
    large_chunked_upload(store).await;
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
