//! The vendors' wire formats as far as the gateway needs them: which paths are which
//! API, where a request names its model, and the error bodies each client understands
//! (Anthropic `{"type":"error","error":{"type","message"}}`, OpenAI
//! `{"error":{"message","type","param","code"}}`, Bedrock `{"message"}` with an
//! `x-amzn-ErrorType` header).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::Provider;
use crate::usage::UsageFormat;

/// One of the model APIs the gateway relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `POST /v1/messages`
    AnthropicMessages,
    /// `POST /v1/responses`
    OpenAiResponses,
    /// `POST /v1/chat/completions`
    OpenAiChat,
    /// `POST /openai/deployments/{deployment}/chat/completions`, `/openai/v1/chat/completions`
    AzureChat,
    /// `POST /openai/responses`, `/openai/v1/responses`
    AzureResponses,
    /// `POST /model/{modelId}/converse`
    BedrockConverse,
    /// `POST /model/{modelId}/converse-stream`
    BedrockConverseStream,
}

impl Api {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Api::AnthropicMessages => "anthropic.messages",
            Api::OpenAiResponses => "openai.responses",
            Api::OpenAiChat => "openai.chat",
            Api::AzureChat => "azure.chat",
            Api::AzureResponses => "azure.responses",
            Api::BedrockConverse => "bedrock.converse",
            Api::BedrockConverseStream => "bedrock.converse-stream",
        }
    }

    pub(crate) fn provider(self) -> Provider {
        match self {
            Api::AnthropicMessages => Provider::Anthropic,
            Api::OpenAiResponses | Api::OpenAiChat => Provider::OpenAi,
            Api::AzureChat | Api::AzureResponses => Provider::AzureOpenAi,
            Api::BedrockConverse | Api::BedrockConverseStream => Provider::Bedrock,
        }
    }

    pub(crate) fn usage_format(self) -> UsageFormat {
        match self {
            Api::AnthropicMessages => UsageFormat::Anthropic,
            Api::OpenAiResponses | Api::AzureResponses => UsageFormat::Responses,
            Api::OpenAiChat | Api::AzureChat => UsageFormat::Chat,
            Api::BedrockConverse | Api::BedrockConverseStream => UsageFormat::Converse,
        }
    }

    pub(crate) fn dialect(self) -> Dialect {
        match self {
            Api::AnthropicMessages => Dialect::Anthropic,
            Api::BedrockConverse | Api::BedrockConverseStream => Dialect::Bedrock,
            _ => Dialect::OpenAi,
        }
    }

    /// Whether this docket relays the API: Bedrock needs the `bedrock` feature.
    pub(crate) fn relayed(self) -> bool {
        cfg!(feature = "bedrock") || self.provider() != Provider::Bedrock
    }

    /// Whether the API streams whatever the body says (ConverseStream).
    pub(crate) fn always_streams(self) -> bool {
        self == Api::BedrockConverseStream
    }
}

/// What a request under the run's base URL is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `HEAD` anywhere under the base URL: the Claude CLI warming its connection.
    Warmup,
    Api {
        api: Api,
        /// The model named in the path, which decides the model there: the Azure
        /// deployment, or Bedrock's percent-decoded `modelId`.
        path_model: Option<String>,
    },
    Unknown,
}

/// Classifies a request by method and path (below the run's base URL, no query).
pub(crate) fn classify(method: &Method, path: &str) -> Route {
    if method == Method::HEAD {
        return Route::Warmup;
    }
    if method != Method::POST {
        return Route::Unknown;
    }
    let api = |api| Route::Api {
        api,
        path_model: None,
    };
    match path {
        "/v1/messages" => api(Api::AnthropicMessages),
        "/v1/responses" => api(Api::OpenAiResponses),
        "/v1/chat/completions" => api(Api::OpenAiChat),
        "/openai/responses" | "/openai/v1/responses" => api(Api::AzureResponses),
        "/openai/v1/chat/completions" => api(Api::AzureChat),
        _ => {
            if let Some(rest) = path.strip_prefix("/model/") {
                return bedrock_route(rest);
            }
            match path
                .strip_prefix("/openai/deployments/")
                .and_then(|rest| rest.strip_suffix("/chat/completions"))
            {
                Some(deployment)
                    if !deployment.is_empty()
                        && deployment
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) =>
                {
                    Route::Api {
                        api: Api::AzureChat,
                        path_model: Some(deployment.to_owned()),
                    }
                }
                _ => Route::Unknown,
            }
        }
    }
}

/// `{modelId}/converse` or `{modelId}/converse-stream`: the model id is one path
/// segment, percent-encoded (Bedrock ids hold `:`, ARNs `/`).
fn bedrock_route(rest: &str) -> Route {
    let (encoded, api) = if let Some(id) = rest.strip_suffix("/converse-stream") {
        (id, Api::BedrockConverseStream)
    } else if let Some(id) = rest.strip_suffix("/converse") {
        (id, Api::BedrockConverse)
    } else {
        return Route::Unknown;
    };
    match percent_decode(encoded) {
        Some(model)
            if !encoded.contains('/') && model_name_ok(&model) && model != "." && model != ".." =>
        {
            Route::Api {
                api,
                path_model: Some(model),
            }
        }
        _ => Route::Unknown,
    }
}

/// `%XX` decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn model_name_ok(model: &str) -> bool {
    !model.is_empty() && model.len() <= MAX_MODEL_LEN && !model.chars().any(char::is_control)
}

/// The upstream path of a Bedrock request: the model id percent-encoded the way the
/// AWS SDKs send it (every byte but `A-Z a-z 0-9 - . _ ~`), whatever encoding the
/// client used, so that what is signed and sent is canonical.
pub(crate) fn bedrock_path(api: Api, model: &str) -> String {
    let mut encoded = String::with_capacity(model.len() + 8);
    for &b in model.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let operation = if api == Api::BedrockConverseStream {
        "converse-stream"
    } else {
        "converse"
    };
    format!("/model/{encoded}/{operation}")
}

/// The longest model name the gateway accepts (entries carry it).
const MAX_MODEL_LEN: usize = 256;

/// The model a request asks for: the model in the path when there is one (Azure
/// serves the deployment's model whatever the body says; Bedrock's Converse body has
/// no model), else the body's `model` string.
pub(crate) fn model_of(body: &Value, path_model: Option<&str>) -> Result<String, String> {
    if let Some(model) = path_model {
        return Ok(model.to_owned());
    }
    match body.get("model") {
        Some(Value::String(model)) if model_name_ok(model) => Ok(model.clone()),
        Some(Value::String(_)) => Err(format!(
            "the request's \"model\" must be 1 to {MAX_MODEL_LEN} characters"
        )),
        _ => Err("the request has no \"model\" string".into()),
    }
}

/// Which error format a client expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Anthropic,
    OpenAi,
    /// AWS's: `{"message": …}` and the error's name in `x-amzn-ErrorType`.
    Bedrock,
}

impl Dialect {
    /// For a request that matched no API: Anthropic or Bedrock when it looks like
    /// one.
    pub(crate) fn guess(path: &str, headers: &HeaderMap) -> Dialect {
        if path.starts_with("/v1/messages") || headers.contains_key("anthropic-version") {
            Dialect::Anthropic
        } else if path.starts_with("/model/") {
            Dialect::Bedrock
        } else {
            Dialect::OpenAi
        }
    }
}

/// Why the gateway answers a request itself. `code` is also the denial's `reason`
/// in the ledger.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    kind: RefusalKind,
}

#[derive(Debug, Clone, Copy)]
enum RefusalKind {
    Unauthenticated,
    NotFound,
    BadRequest,
    TooLarge,
    Forbidden,
    /// A limit or a stop: not retryable in either dialect.
    Exhausted,
    BadGateway,
    GatewayTimeout,
}

impl Refusal {
    fn new(kind: RefusalKind, code: &'static str, message: String) -> Refusal {
        Refusal {
            code,
            message: format!("docket gateway: {message}"),
            kind,
        }
    }

    pub(crate) fn unauthenticated() -> Refusal {
        Refusal::new(
            RefusalKind::Unauthenticated,
            "invalid_api_key",
            "the request does not carry this run's key (x-api-key, Authorization: Bearer or api-key)".into(),
        )
    }

    pub(crate) fn unknown_route(method: &Method, path: &str) -> Refusal {
        let relayed = if cfg!(feature = "bedrock") {
            "POST /v1/messages, /v1/responses, /v1/chat/completions, Azure OpenAI deployment paths and Bedrock /model/{id}/converse(-stream) are"
        } else {
            "POST /v1/messages, /v1/responses, /v1/chat/completions and Azure OpenAI deployment paths are"
        };
        Refusal::new(
            RefusalKind::NotFound,
            "unknown_url",
            format!("{method} {path} is not relayed ({relayed})"),
        )
    }

    /// A Bedrock route in a docket built without the `bedrock` feature.
    pub(crate) fn bedrock_not_built(path: &str) -> Refusal {
        Refusal::new(
            RefusalKind::NotFound,
            "unknown_url",
            format!(
                "POST {path} is not relayed: this docket was built without the `bedrock` feature; rebuild with --features bedrock"
            ),
        )
    }

    pub(crate) fn bad_request(message: String) -> Refusal {
        Refusal::new(RefusalKind::BadRequest, "invalid_request", message)
    }

    pub(crate) fn too_large(limit: usize) -> Refusal {
        Refusal::new(
            RefusalKind::TooLarge,
            "request_too_large",
            format!("the request body could not be read whole (the limit is {limit} bytes)"),
        )
    }

    pub(crate) fn model_not_allowed(model: &str) -> Refusal {
        Refusal::new(
            RefusalKind::Forbidden,
            "model_not_allowed",
            format!("model {model:?} is not allowed for this run (gateway allowed_models)"),
        )
    }

    pub(crate) fn policy_denied(model: &str, message: &str) -> Refusal {
        Refusal::new(
            RefusalKind::Forbidden,
            "policy_denied",
            format!("policy denied model {model:?}: {message}"),
        )
    }

    pub(crate) fn secret_detected(rules: &str) -> Refusal {
        Refusal::new(
            RefusalKind::BadRequest,
            "secret_detected",
            format!(
                "the request contains a secret ({rules}) and the run's redaction mode is block"
            ),
        )
    }

    pub(crate) fn stopped(reason: &str) -> Refusal {
        Refusal::new(
            RefusalKind::Exhausted,
            "insufficient_quota",
            format!("the run is stopped: {reason}"),
        )
    }

    pub(crate) fn no_upstream(provider: Provider) -> Refusal {
        Refusal::new(
            RefusalKind::BadGateway,
            "no_upstream",
            format!(
                "no upstream is configured for provider {}",
                provider.as_str()
            ),
        )
    }

    pub(crate) fn unreachable(upstream: &str, reason: &str) -> Refusal {
        Refusal::new(
            RefusalKind::BadGateway,
            "upstream_unreachable",
            format!("upstream {upstream} is unreachable: {reason}"),
        )
    }

    pub(crate) fn upstream_timeout(upstream: &str, timeout: std::time::Duration) -> Refusal {
        Refusal::new(
            RefusalKind::GatewayTimeout,
            "upstream_timeout",
            format!(
                "upstream {upstream} did not answer within {:.1} s",
                timeout.as_secs_f64()
            ),
        )
    }

    pub(crate) fn signing_failed(upstream: &str, reason: &str) -> Refusal {
        Refusal::new(
            RefusalKind::BadGateway,
            "signing_failed",
            format!("the request to upstream {upstream} could not be signed: {reason}"),
        )
    }

    pub(crate) fn replay(code: &'static str, message: String) -> Refusal {
        Refusal::new(RefusalKind::BadRequest, code, message)
    }

    /// The status this refusal gets in `dialect`.
    pub(crate) fn status(&self, dialect: Dialect) -> StatusCode {
        if dialect == Dialect::Bedrock {
            return self.bedrock_error().1;
        }
        match (self.kind, dialect) {
            (RefusalKind::Unauthenticated, _) => StatusCode::UNAUTHORIZED,
            (RefusalKind::NotFound, _) => StatusCode::NOT_FOUND,
            (RefusalKind::BadRequest, _) => StatusCode::BAD_REQUEST,
            (RefusalKind::TooLarge, _) => StatusCode::PAYLOAD_TOO_LARGE,
            (RefusalKind::Forbidden, _) => StatusCode::FORBIDDEN,
            // Anthropic reports an exhausted balance as a 400, which the Claude CLI
            // does not retry; OpenAI as a 429 `insufficient_quota`.
            (RefusalKind::Exhausted, Dialect::Anthropic) => StatusCode::BAD_REQUEST,
            (RefusalKind::Exhausted, _) => StatusCode::TOO_MANY_REQUESTS,
            (RefusalKind::BadGateway, _) => StatusCode::BAD_GATEWAY,
            (RefusalKind::GatewayTimeout, _) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The error body in `dialect`'s shape.
    pub(crate) fn body(&self, dialect: Dialect) -> Value {
        match dialect {
            Dialect::Anthropic => {
                let kind = match self.kind {
                    RefusalKind::Unauthenticated => "authentication_error",
                    RefusalKind::NotFound => "not_found_error",
                    RefusalKind::BadRequest | RefusalKind::Exhausted => "invalid_request_error",
                    RefusalKind::TooLarge => "request_too_large",
                    RefusalKind::Forbidden => "permission_error",
                    RefusalKind::BadGateway | RefusalKind::GatewayTimeout => "api_error",
                };
                json!({"type": "error", "error": {"type": kind, "message": self.message}})
            }
            Dialect::OpenAi => {
                let kind = match self.kind {
                    RefusalKind::Exhausted => "insufficient_quota",
                    RefusalKind::BadGateway | RefusalKind::GatewayTimeout => "server_error",
                    _ => "invalid_request_error",
                };
                json!({"error": {"message": self.message, "type": kind, "param": null, "code": self.code}})
            }
            Dialect::Bedrock => json!({"message": self.message}),
        }
    }

    /// The AWS error name (`x-amzn-ErrorType`) and status of this refusal, from
    /// Bedrock's documented errors: a limit is `ServiceQuotaExceededException` (400,
    /// which the SDKs do not retry), a refusal of the model `AccessDeniedException`.
    fn bedrock_error(&self) -> (&'static str, StatusCode) {
        match self.kind {
            RefusalKind::Unauthenticated => ("UnrecognizedClientException", StatusCode::FORBIDDEN),
            RefusalKind::NotFound => ("UnknownOperationException", StatusCode::NOT_FOUND),
            RefusalKind::BadRequest => ("ValidationException", StatusCode::BAD_REQUEST),
            RefusalKind::TooLarge => ("ValidationException", StatusCode::PAYLOAD_TOO_LARGE),
            RefusalKind::Forbidden => ("AccessDeniedException", StatusCode::FORBIDDEN),
            RefusalKind::Exhausted => ("ServiceQuotaExceededException", StatusCode::BAD_REQUEST),
            RefusalKind::BadGateway => (
                "ServiceUnavailableException",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            RefusalKind::GatewayTimeout => ("ModelTimeoutException", StatusCode::REQUEST_TIMEOUT),
        }
    }

    pub(crate) fn response(&self, dialect: Dialect) -> Response {
        let body = serde_json::to_vec(&self.body(dialect)).unwrap_or_default();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status(dialect);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if dialect == Dialect::Bedrock {
            headers.insert(
                HeaderName::from_static("x-amzn-errortype"),
                HeaderValue::from_static(self.bedrock_error().0),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let post = Method::POST;
        let cases = [
            ("/v1/messages", Some((Api::AnthropicMessages, None))),
            ("/v1/responses", Some((Api::OpenAiResponses, None))),
            ("/v1/chat/completions", Some((Api::OpenAiChat, None))),
            (
                "/openai/deployments/gpt-5.4_prod/chat/completions",
                Some((Api::AzureChat, Some("gpt-5.4_prod"))),
            ),
            (
                "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
                Some((
                    Api::BedrockConverse,
                    Some("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
                )),
            ),
            (
                "/model/anthropic.claude-haiku-4-5-20251001-v1:0/converse-stream",
                Some((
                    Api::BedrockConverseStream,
                    Some("anthropic.claude-haiku-4-5-20251001-v1:0"),
                )),
            ),
            (
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
                Some((
                    Api::BedrockConverse,
                    Some(
                        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    ),
                )),
            ),
            ("/model//converse", None),
            ("/model/a/b/converse", None),
            ("/model/%2E%2E/converse", None),
            ("/model/bad%zz/converse", None),
            ("/model/bad%FF/converse", None),
            ("/model/a%0Ab/converse", None),
            ("/model/m/invoke", None),
            ("/openai/responses", Some((Api::AzureResponses, None))),
            ("/openai/v1/chat/completions", Some((Api::AzureChat, None))),
            ("/openai/deployments//chat/completions", None),
            ("/openai/deployments/a/b/chat/completions", None),
            ("/v1/messages/count_tokens", None),
            ("/v1/models", None),
            ("", None),
        ];
        for (path, expected) in cases {
            let route = classify(&post, path);
            let expected = match expected {
                Some((api, model)) => Route::Api {
                    api,
                    path_model: model.map(str::to_owned),
                },
                None => Route::Unknown,
            };
            assert_eq!(route, expected, "{path}");
        }
        assert_eq!(classify(&Method::HEAD, ""), Route::Warmup);
        assert_eq!(classify(&Method::GET, "/v1/messages"), Route::Unknown);
    }

    #[test]
    fn error_shapes() {
        let refusal = Refusal::model_not_allowed("gpt-9");
        assert_eq!(refusal.status(Dialect::Anthropic), StatusCode::FORBIDDEN);
        let body = refusal.body(Dialect::Anthropic);
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "permission_error");
        let body = refusal.body(Dialect::OpenAi);
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "model_not_allowed");
        assert!(body["error"]["param"].is_null());
        let stop = Refusal::stopped("limit");
        assert_eq!(stop.status(Dialect::Anthropic), StatusCode::BAD_REQUEST);
        assert_eq!(stop.status(Dialect::OpenAi), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            stop.body(Dialect::OpenAi)["error"]["type"],
            "insufficient_quota"
        );
        let response = refusal.response(Dialect::Bedrock);
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "AccessDeniedException"
        );
        assert_eq!(
            refusal.body(Dialect::Bedrock),
            json!({"message": "docket gateway: model \"gpt-9\" is not allowed for this run (gateway allowed_models)"})
        );
        let response = stop.response(Dialect::Bedrock);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "ServiceQuotaExceededException"
        );
        let policy = Refusal::policy_denied("m", "no");
        assert_eq!(
            policy.message,
            "docket gateway: policy denied model \"m\": no"
        );
        assert_eq!(policy.code, "policy_denied");
        assert_eq!(policy.status(Dialect::OpenAi), StatusCode::FORBIDDEN);
    }

    #[test]
    fn bedrock_paths_are_canonically_encoded() {
        assert_eq!(
            bedrock_path(
                Api::BedrockConverse,
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
            ),
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
        );
        assert_eq!(
            bedrock_path(
                Api::BedrockConverseStream,
                "arn:aws:bedrock:us-east-1:1:application-inference-profile/a b~"
            ),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aapplication-inference-profile%2Fa%20b~/converse-stream"
        );
        assert_eq!(percent_decode("a%3ab%2F%41"), Some("a:b/A".into()));
    }

    #[test]
    fn models() {
        let body = json!({"model": "claude-x"});
        assert_eq!(model_of(&body, None).unwrap(), "claude-x");
        assert_eq!(model_of(&body, Some("dep")).unwrap(), "dep");
        assert!(model_of(&json!({}), None).is_err());
        assert!(model_of(&json!({"model": ""}), None).is_err());
        assert!(model_of(&json!({"model": 3}), None).is_err());
    }
}
