//! What every answer goes through: slow request bodies are cut off, no page may be framed
//! except the embed cards, and the public JSON API is open to other sites' scripts (CORS) with
//! ETags.

use super::pages::{choose_lang, error_page};
use crate::error::AppError;
use crate::settings::BodyTimeouts;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::rt::time::{Instant, Sleep, sleep, sleep_until};
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use futures_util::Stream;
use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// `X-Frame-Options: DENY` and `Content-Security-Policy: frame-ancestors 'none'` on every answer
/// that does not carry a `frame-ancestors` policy of its own (the embed cards set the brand's).
/// Decided by the answer, not the path: a resolver stem such as `/embed/x/01/...` gets no pass.
pub async fn deny_framing(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    let own = headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let policy = match own {
        Some(own) if own.contains("frame-ancestors") => return Ok(res),
        Some(own) => format!("{own}; frame-ancestors 'none'"),
        None => "frame-ancestors 'none'".to_owned(),
    };
    if let Ok(policy) = header::HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    Ok(res)
}

/// The body as its reader and this middleware share it.
struct Body {
    /// The connection's payload; taken back after the handler when it was not read to its end.
    inner: Option<Payload>,
    timed_out: bool,
    finished: bool,
}

/// An answer's body that keeps the request's unread payload alive until it is written: the HTTP/1
/// dispatcher then closes the connection after the answer, instead of draining whatever a slow
/// client still sends (it drains a dropped chunked body with no time limit).
struct WithUnreadBody {
    body: BoxBody,
    _unread: Payload,
}

impl MessageBody for WithUnreadBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> actix_web::body::BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// The payload as the handler reads it: an error, and the body marked timed out, when it stalls
/// for `idle` or is not complete within `total`.
struct Deadline {
    body: Rc<RefCell<Body>>,
    timeouts: BodyTimeouts,
    /// Armed at the first read, so a handler that reads late is not blamed on the client.
    idle: Option<Pin<Box<Sleep>>>,
    total: Pin<Box<Sleep>>,
}

fn too_slow() -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the request body did not arrive in time",
    ))
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut body = this.body.borrow_mut();
        if body.timed_out {
            return Poll::Ready(Some(Err(too_slow())));
        }
        let Some(inner) = body.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_next(cx);
        let idle = this
            .idle
            .get_or_insert_with(|| Box::pin(sleep(this.timeouts.idle)));
        match polled {
            Poll::Ready(Some(Ok(bytes))) => {
                idle.as_mut().reset(Instant::now() + this.timeouts.idle);
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(None) => {
                body.finished = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Pending => {
                let idle_over = idle.as_mut().poll(cx).is_ready();
                if idle_over || this.total.as_mut().poll(cx).is_ready() {
                    body.timed_out = true;
                    Poll::Ready(Some(Err(too_slow())))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() != "0");
    let chunked = headers
        .get(header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    length || chunked
}

/// The answer to a body that did not arrive in time: 408 and the connection closed; JSON under
/// `/api/`, else a page in the visitor's language.
fn timed_out(req: &actix_web::HttpRequest, timeouts: BodyTimeouts) -> HttpResponse {
    let (idle, total) = (timeouts.idle.as_secs(), timeouts.total.as_secs());
    let mut response = if req.path().starts_with("/api/") {
        AppError::Timeout(format!(
            "the request body did not arrive in time: each part must follow within {idle} s \
             and the whole body within {total} s"
        ))
        .error_response()
    } else {
        let choice = choose_lang(req);
        let detail = if choice.zh {
            format!(
                "表單內容未在時限內送達（每段須於 {idle} 秒內、全部須於 {total} 秒內送達）。請檢查網路後再送出一次。"
            )
        } else {
            format!(
                "The form did not arrive in time (each part within {idle} s, all of it within \
                 {total} s). Check your connection and send it again."
            )
        };
        error_page(req, &choice, StatusCode::REQUEST_TIMEOUT, detail)
    };
    response
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    response
}

/// Times out slow request bodies on every route (actix's `client_request_timeout` only covers the
/// head): a body that stalls for the idle timeout, or is not complete by the total one, is
/// answered 408 and its connection closed, whatever the handler made of the read error.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let timeouts = req
        .app_data::<web::Data<crate::settings::Settings>>()
        .map(|settings| settings.body_timeouts());
    let Some(timeouts) = timeouts.filter(|_| has_body(&req)) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let body = Rc::new(RefCell::new(Body {
        inner: Some(req.take_payload()),
        timed_out: false,
        finished: false,
    }));
    let deadline = Deadline {
        body: body.clone(),
        timeouts,
        idle: None,
        total: Box::pin(sleep_until(Instant::now() + timeouts.total)),
    };
    req.set_payload(Payload::from(
        Box::pin(deadline) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
    ));
    let answered = next.call(req).await?;
    let (was_slow, finished, unread) = {
        let mut body = body.borrow_mut();
        (body.timed_out, body.finished, body.inner.take())
    };
    let mut res = if was_slow {
        // Whatever the handler made of the read error (a 400, a form shown again), the answer is
        // that the body was too slow.
        let (http_req, _) = answered.into_parts();
        tracing::info!(path = http_req.path(), "request body timed out");
        let response = timed_out(&http_req, timeouts);
        ServiceResponse::new(http_req, response)
    } else {
        answered.map_into_boxed_body()
    };
    if !finished && let Some(unread) = unread {
        res = res.map_body(|_, body| {
            BoxBody::new(WithUnreadBody {
                body,
                _unread: unread,
            })
        });
    }
    Ok(res)
}

/// The response headers a script on another site may read from the API.
const API_EXPOSED: &str = "ETag, Link, Location, Cache-Control";

/// Whether a public GET of the API can carry a recall (the lot JSON and everything under a
/// lot, the recalls in force): served `public, no-cache`, so no kept copy outlives a recall.
fn recallable(path: &str) -> bool {
    path.starts_with("/api/v1/lots/") || path == "/api/v1/recalls"
}

/// The public JSON API (`/api/v1/...`) for e-commerce pages and other sites' scripts:
/// - every GET and HEAD answer, errors included, carries `Access-Control-Allow-Origin: *`;
/// - a preflight `OPTIONS` asking for GET or HEAD is answered 204 with CORS; one asking for
///   another method (the admin calls, record submission) gets no CORS headers, so browsers on
///   other sites cannot make those calls;
/// - a JSON 200 gets a strong `ETag` (SHA-256 of the body) and answers 304 to a matching
///   `If-None-Match`; those that can carry a recall are `Cache-Control: public, no-cache`, a
///   record (which never changes) `public, max-age=86400`.
pub async fn public_api(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    use actix_web::http::Method;
    use sha2::Digest as _;
    if !req.path().starts_with("/api/v1/") {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let method = req.method().clone();
    if method == Method::OPTIONS {
        let asked = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("GET")
            .to_owned();
        let mut answer = HttpResponse::NoContent();
        answer.insert_header((header::ALLOW, "GET, HEAD, OPTIONS"));
        if asked == "GET" || asked == "HEAD" {
            answer
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "Accept, Accept-Language, If-None-Match",
                ))
                .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, API_EXPOSED))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"));
        }
        let (http_req, _) = req.into_parts();
        return Ok(ServiceResponse::new(http_req, answer.finish()));
    }
    if method != Method::GET && method != Method::HEAD {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    // A HEAD is answered as the GET would be: the routes are GET routes, and the connection
    // (which knows the request was HEAD) sends the headers without the body.
    if method == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    let path = req.path().to_owned();
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut res = next.call(req).await?.map_into_boxed_body();
    let headers = res.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        header::HeaderValue::from_static(API_EXPOSED),
    );
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if res.status() != StatusCode::OK || !is_json {
        return Ok(res);
    }
    let cache_control = if recallable(&path) {
        Some(super::pages::RECALLABLE)
    } else if path.starts_with("/api/v1/records/") {
        Some("public, max-age=86400")
    } else {
        None
    };
    let (http_req, response) = res.into_parts();
    let (mut response, body) = response.into_parts();
    let bytes = actix_web::body::to_bytes(body)
        .await
        .map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()))?;
    let etag = format!("\"{}\"", hex::encode(&sha2::Sha256::digest(&bytes)[..16]));
    let fresh = if_none_match.is_some_and(|v| {
        v.split(',').any(|t| {
            t.trim() == etag || t.trim() == "*" || t.trim().trim_start_matches("W/") == etag
        })
    });
    let headers = response.headers_mut();
    if let Ok(value) = header::HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if let Some(value) = cache_control {
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static(value),
        );
    }
    let response = if fresh {
        let mut not_modified = HttpResponse::NotModified().finish();
        for (name, value) in response.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                not_modified
                    .headers_mut()
                    .insert(name.clone(), value.clone());
            }
        }
        not_modified
    } else {
        response.set_body(BoxBody::new(bytes))
    };
    Ok(ServiceResponse::new(http_req, response))
}
