//! Reading `multipart/form-data` uploads as they stream in: the errors of
//! a bad body, small text fields, and a file field streamed to scratch
//! space.

use std::path::Path;

use actix_multipart::{Field, MultipartError};
use chorus_shared::error::ErrorCode;
use futures::TryStreamExt;
use tokio::io::AsyncWriteExt;

use crate::error::{api_error, ApiError, ApiResult};

pub fn multipart_error(e: MultipartError) -> ApiError {
    match e {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible => {
            api_error(ErrorCode::UnsupportedMediaType, "send the upload as multipart/form-data")
        }
        other => api_error(ErrorCode::InvalidPayload, format!("bad multipart body: {other}")),
    }
}

/// Reads a small text field (title, tags, metadata), at most 64 KiB.
pub async fn text_field(field: &mut Field) -> ApiResult<String> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
        buf.extend_from_slice(&chunk);
        if buf.len() > 64 * 1024 {
            return Err(api_error(ErrorCode::PayloadTooLarge, "form fields other than `file` are limited to 64 KiB"));
        }
    }
    String::from_utf8(buf).map_err(|_| api_error(ErrorCode::InvalidPayload, "form fields must be UTF-8"))
}

/// The file name a `file` field was sent with: its last path segment, or
/// `default` when it has none.
pub fn filename(field: &Field, default: &str) -> String {
    field
        .content_disposition()
        .and_then(|cd| cd.get_filename())
        .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f).to_string())
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| default.into())
}

/// Streams a file field into a new scratch file under `dir`, refusing it
/// (`payload_too_large`) once it passes `max` bytes; `each` sees every
/// chunk on the way (to hash it, say). Returns the file and its size.
pub async fn to_scratch(
    field: &mut Field,
    dir: &Path,
    max: u64,
    mut each: impl FnMut(&[u8]),
) -> ApiResult<(tempfile::TempPath, u64)> {
    let scratch = |e: std::io::Error| api_error(ErrorCode::Internal, format!("scratch file: {e}"));
    let (file, path) = tempfile::NamedTempFile::new_in(dir).map_err(scratch)?.into_parts();
    let mut out = tokio::fs::File::from_std(file);
    let mut size = 0u64;
    while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
        size += chunk.len() as u64;
        if size > max {
            return Err(api_error(ErrorCode::PayloadTooLarge, format!("the file is larger than {max} bytes")));
        }
        each(&chunk);
        out.write_all(&chunk).await.map_err(scratch)?;
    }
    out.flush().await.map_err(scratch)?;
    Ok((path, size))
}
