//! `Json<T>`: actix's JSON body extractor (same limits and error answers),
//! except that a number with a zero fraction (`5.0`) also fills an integer
//! field. JSON Schema counts `5.0` an integer, and so does the document.

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use chorus_shared::error::ErrorCode;
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::api_error;

/// A JSON body of type `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Json::<Value>::from_request(req, payload);
        async move {
            let mut value = body.await?.into_inner();
            integral(&mut value);
            serde_json::from_value(value).map(Json).map_err(|e| {
                api_error(ErrorCode::InvalidPayload, format!("the body does not match the expected shape: {e}")).into()
            })
        }
        .boxed_local()
    }
}

/// Turns every float with a zero fraction that an `i64` holds exactly into
/// that integer.
fn integral(v: &mut Value) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() <= EXACT) {
                *v = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral),
        Value::Object(map) => map.values_mut().for_each(integral),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_become_integers_and_others_stay() {
        let mut v = serde_json::json!({"a": 5.0, "b": [1.5, -2.0], "c": 1e300, "d": "5.0", "e": 7});
        integral(&mut v);
        assert_eq!(v, serde_json::json!({"a": 5, "b": [1.5, -2], "c": 1e300, "d": "5.0", "e": 7}));
    }
}
