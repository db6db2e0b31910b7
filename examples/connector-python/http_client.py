"""A blocking HTTP GET over the generated wasi:http 0.2 bindings.

componentize-py's `poll_loop.py` wraps wasi:http in an asyncio loop; a connector makes one
request at a time, so this helper simply blocks on each pollable instead. Resources are
closed child-first (stream, body, response, future), as the component model requires.
"""
import re

from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler, wasi_http_types as http
from wit_world.imports.streams import StreamError_Closed, StreamError_LastOperationFailed
from wit_world.imports.portcullis_plugin_types import (
    PluginError_Denied,
    PluginError_Timeout,
    PluginError_Unavailable,
)

READ_SIZE = 64 * 1024
TIMEOUTS = (
    http.ErrorCode_ConnectionTimeout,
    http.ErrorCode_ConnectionReadTimeout,
    http.ErrorCode_ConnectionWriteTimeout,
    http.ErrorCode_HttpResponseTimeout,
    http.ErrorCode_DnsTimeout,
)


def error_name(code) -> str:
    """The WIT name of a wasi:http error-code case (`ErrorCode_ConnectionRefused` → `connection-refused`)."""
    name = type(code).__name__.removeprefix("ErrorCode_")
    return re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower()


def transport_error(code, url: str) -> Err:
    """Maps a wasi:http error code to the plugin-error the inventory README names."""
    message = f"the request to {url} failed: {error_name(code)}"
    if isinstance(code, (http.ErrorCode_HttpRequestDenied, http.ErrorCode_DestinationIpProhibited)):
        return Err(PluginError_Denied(message))
    if isinstance(code, TIMEOUTS):
        return Err(PluginError_Timeout())
    return Err(PluginError_Unavailable(message))


def get(scheme: str, authority: str, path_with_query: str, headers: list) -> tuple:
    """GETs one URL; returns (status, body bytes) or raises Err(plugin-error)."""
    url = f"{scheme}://{authority}{path_with_query}"
    request = http.OutgoingRequest(http.Fields.from_list(headers))
    request.set_method(http.Method_Get())
    request.set_scheme(http.Scheme_Https() if scheme == "https" else http.Scheme_Http())
    request.set_authority(authority)
    request.set_path_with_query(path_with_query)
    try:
        future = outgoing_handler.handle(request, None)
    except Err as e:
        raise transport_error(e.value, url)
    with future:
        while True:
            answer = future.get()
            if answer is not None:
                break
            with future.subscribe() as ready:
                ready.block()
        if not isinstance(answer, Ok) or not isinstance(answer.value, Ok):
            code = answer.value.value if isinstance(answer, Ok) else http.ErrorCode_InternalError(None)
            raise transport_error(code, url)
        with answer.value.value as response:
            status = response.status()
            with response.consume() as body:
                return status, _read_all(body, url)


def _read_all(body, url: str) -> bytes:
    chunks = []
    with body.stream() as stream:
        while True:
            try:
                chunks.append(stream.blocking_read(READ_SIZE))
            except Err as e:
                if isinstance(e.value, StreamError_Closed):
                    break
                if isinstance(e.value, StreamError_LastOperationFailed):
                    code = http.http_error_code(e.value.value)
                    raise transport_error(code or http.ErrorCode_InternalError(None), url)
                raise
    return b"".join(chunks)
