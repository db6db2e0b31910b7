//! [`crate::http::send`] over `wasi:http/outgoing-handler`: write the request, block on the
//! response future, read the whole body.

use super::bindings::wasi::http::outgoing_handler;
use super::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use super::bindings::wasi::io::streams::StreamError;
use crate::Error;
use crate::http::{Request, Response, split_url};

/// The largest chunk `blocking-write-and-flush` accepts (WASI guarantees 4096 bytes).
const WRITE_CHUNK: usize = 4096;
/// How much to ask for per read of the response body.
const READ_CHUNK: u64 = 64 * 1024;

/// Sends `request` and reads the whole response.
pub fn send(request: &Request) -> Result<Response, Error> {
    let url = split_url(&request.url)?;
    let headers: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&headers)
        .map_err(|e| Error::invalid_input(format!("request headers refused: {e:?}")))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match &request.method {
        crate::http::Method::Get => Method::Get,
        crate::http::Method::Head => Method::Head,
        crate::http::Method::Post => Method::Post,
        crate::http::Method::Put => Method::Put,
        crate::http::Method::Patch => Method::Patch,
        crate::http::Method::Delete => Method::Delete,
        crate::http::Method::Options => Method::Options,
        crate::http::Method::Other(name) => Method::Other(name.clone()),
    };
    let refused =
        |what: &str| Error::invalid_input(format!("request {what} refused: {}", request.url));
    outgoing
        .set_method(&method)
        .map_err(|()| refused("method"))?;
    let scheme = if url.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    outgoing
        .set_authority(Some(url.authority))
        .map_err(|()| refused("authority"))?;
    outgoing
        .set_path_with_query(Some(url.path_with_query))
        .map_err(|()| refused("path"))?;

    let body = outgoing
        .body()
        .map_err(|()| Error::internal("request body already taken"))?;
    let options = request.timeout.map(|t| {
        let options = RequestOptions::new();
        let nanos = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        // The host may refuse to let the guest choose; its own defaults then apply.
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));
        options
    });
    let future = outgoing_handler::handle(outgoing, options).map_err(http_error)?;
    write_body(body, &request.body)?;

    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(http_error(code)),
        Some(Err(())) => return Err(Error::internal("response already taken")),
        None => return Err(Error::internal("response not ready after waiting for it")),
    };
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| {
            (
                n.to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let body = response
        .consume()
        .map_err(|()| Error::internal("response body already taken"))?;
    let body = read_body(body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), Error> {
    {
        let stream = body
            .write()
            .map_err(|()| Error::internal("request body stream already taken"))?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(stream_error)?;
        }
        // The stream must be dropped before the body is finished.
    }
    OutgoingBody::finish(body, None).map_err(http_error)
}

fn read_body(body: IncomingBody) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| Error::internal("response body stream already taken"))?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => out.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_error(e)),
            }
        }
    }
    drop(IncomingBody::finish(body));
    Ok(out)
}

fn stream_error(e: StreamError) -> Error {
    match e {
        StreamError::Closed => Error::unavailable("HTTP connection closed"),
        StreamError::LastOperationFailed(err) => {
            Error::unavailable(format!("HTTP I/O failed: {}", err.to_debug_string()))
        }
    }
}

/// `wasi:http` error codes by meaning: the host's refusals are `Denied`, timeouts `Timeout`,
/// the rest `Unavailable` (the remote side could not be reached or answered badly).
fn http_error(code: ErrorCode) -> Error {
    match code {
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
            Error::denied(format!("the host refused the request ({code})"))
        }
        ErrorCode::DnsTimeout
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => Error::Timeout,
        ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid => {
            Error::invalid_input(format!("{code}"))
        }
        ErrorCode::InternalError(Some(message)) => Error::unavailable(message),
        other => Error::unavailable(format!("{other}")),
    }
}
