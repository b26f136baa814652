//! Dashboard sessions: an API key exchanged for a random session token.
//!
//! The session lives in Redis under the SHA-256 of its token (a leaked
//! Redis dump does not hold usable cookies), for `TTL`, and holds the key's
//! hash, not the key. Each request authenticates that hash again, so a
//! revoked key ends its sessions at once. Each session has its own CSRF
//! token, which every form carries back.

use rand::RngCore;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{auth, Principal};
use crate::error::{ErrorCode, ServiceResult};
use crate::Ctx;

/// How long a session lasts without being renewed.
pub const TTL_SECS: u64 = 8 * 3600;

/// What Redis keeps of a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    key_hash: String,
    csrf: String,
}

/// A live session: its caller and its CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
}

/// A random token of 32 bytes, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn redis_key(ctx: &Ctx, token: &str) -> String {
    format!("{}:session:{}", ctx.broker.namespace(), hex::encode(Sha256::digest(token.as_bytes())))
}

/// Signs in with an API key: returns the new session's token and session.
/// An unknown or revoked key is refused like the API refuses it.
pub async fn open(ctx: &Ctx, secret: &str) -> ServiceResult<(String, Session)> {
    let principal = auth::authenticate(&ctx.pool, secret.trim()).await?;
    let token = random_token();
    let stored = Stored { key_hash: auth::hash_key(secret.trim()), csrf: random_token() };
    let body = serde_json::to_string(&stored).expect("session serializes");
    let mut conn = ctx.broker.conn();
    let () = conn.set_ex(redis_key(ctx, &token), body, TTL_SECS).await?;
    Ok((token, Session { principal, csrf: stored.csrf }))
}

/// The session of `token`, renewed for another `TTL_SECS`; `None` when it
/// expired, was closed, or its key was revoked.
pub async fn find(ctx: &Ctx, token: &str) -> ServiceResult<Option<Session>> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let key = redis_key(ctx, token);
    let mut conn = ctx.broker.conn();
    let body: Option<String> = conn.get_ex(&key, redis::Expiry::EX(TTL_SECS)).await?;
    let Some(stored) = body.and_then(|b| serde_json::from_str::<Stored>(&b).ok()) else { return Ok(None) };
    match auth::authenticate_hash(&ctx.pool, &stored.key_hash).await {
        Ok(principal) => Ok(Some(Session { principal, csrf: stored.csrf })),
        Err(e) if e.code == ErrorCode::InvalidApiKey => {
            let _: Result<(), _> = conn.del(&key).await;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Ends the session of `token` (nothing if there is none).
pub async fn close(ctx: &Ctx, token: &str) -> ServiceResult<()> {
    let mut conn = ctx.broker.conn();
    let () = conn.del(redis_key(ctx, token)).await?;
    Ok(())
}

/// Compares two tokens in time that does not depend on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}
