//! Randomness from the operating system, in one place: every token, code, salt, nonce and key
//! seed the application makes comes from `fill`.

use crate::error::{AppError, AppResult};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Fills `buf` with random bytes from the operating system.
pub fn fill(buf: &mut [u8]) -> AppResult<()> {
    getrandom::fill(buf).map_err(|e| AppError::internal(format!("no randomness: {e}")))
}

/// A random token for a cookie or a link: 32 bytes (256 bits), base64url without padding.
pub fn token() -> AppResult<String> {
    let mut bytes = [0u8; 32];
    fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
