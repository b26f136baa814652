//! Reading `multipart/form-data` uploads as they stream in: the errors of
//! a bad body, and small text fields.

use actix_multipart::{Field, MultipartError};
use chorus_shared::error::ErrorCode;
use futures::TryStreamExt;

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
